package memory

// posIndex maps the versions of one stream to global positions. It grows by
// doubling up to one chunk, so a small stream costs a few bytes, and then by
// whole chunks, so a long one never copies. Trimming removes versions from
// the front only (a stream is always trimmed from its oldest event).
type posIndex struct {
	chunks [][]int64
	base   int64 // version of chunks[0][0]
	first  int64 // oldest kept version
	next   int64 // version of the next event
}

func newPosIndex() posIndex { return posIndex{base: 1, first: 1, next: 1} }

func (x *posIndex) push(pos int64) {
	c := int((x.next - x.base) >> indexChunkShift)
	if c == len(x.chunks) {
		size := indexChunkSize
		if c == 0 {
			size = indexFirstCap
		}
		x.chunks = append(x.chunks, make([]int64, 0, size))
	}
	ch := x.chunks[c]
	if len(ch) == cap(ch) {
		grown := make([]int64, len(ch), min(2*cap(ch), indexChunkSize))
		copy(grown, ch)
		ch = grown
	}
	x.chunks[c] = append(ch, pos)
	x.next++
}

// at returns the position of version v, which must be in [first, next).
func (x *posIndex) at(v int64) int64 {
	idx := v - x.base
	return x.chunks[idx>>indexChunkShift][idx&(indexChunkSize-1)]
}

// dropFirst trims the oldest kept version.
func (x *posIndex) dropFirst() {
	x.first++
	if x.first-x.base >= indexChunkSize {
		x.chunks[0] = nil
		x.chunks = x.chunks[1:]
		x.base += indexChunkSize
	}
}

// kept is the number of versions kept.
func (x *posIndex) kept() int64 { return x.next - x.first }
