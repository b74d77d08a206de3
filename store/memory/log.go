package memory

import (
	"sort"

	"github.com/novaevents/nova/shared"
)

// entry is one stored event, in 32 bytes: the event, when it was stored,
// its stream's number and the low 32 bits of its version. The full version
// is rebuilt from the stream's range of kept versions (see stream.versionOf),
// which is exact as long as a stream keeps fewer than 2^32 events. A trimmed
// entry keeps its time, so the log can still be searched by time, but drops
// the event.
type entry struct {
	event  shared.Event // nil once trimmed
	at     int64        // StoredAt in Unix nanoseconds; never decreases along the log
	stream uint32       // index in Store.byNo: a number, not a pointer the GC must follow
	verLo  uint32       // low 32 bits of the version
}

type logChunk struct {
	entries [logChunkSize]entry
	dead    int // entries trimmed; the chunk is freed when all are
}

// eventLog is the global log: every event by Position, in fixed-size chunks,
// so an append never copies earlier events and a lookup by position is two
// index operations.
//
// Retention trims each stream from its oldest event, which leaves holes in
// the global log when streams are trimmed unevenly. A chunk whose entries are
// all trimmed is freed at once (its slot stays nil), and chunks below the
// oldest kept position are dropped from the front, so memory follows the
// events kept, not the events ever appended.
type eventLog struct {
	chunks  []*logChunk
	firstAt []int64 // at of each chunk's first entry; kept after the chunk is freed
	base    int64   // position of chunks[0].entries[0]
	head    int64   // oldest kept position; == next when nothing is kept
	next    int64   // position of the next append
}

func newEventLog() eventLog { return eventLog{base: 1, head: 1, next: 1} }

// push stores e at the next position and returns that position.
func (l *eventLog) push(e entry) int64 {
	pos := l.next
	idx := pos - l.base
	c := int(idx / logChunkSize)
	if c == len(l.chunks) {
		l.chunks = append(l.chunks, new(logChunk))
		l.firstAt = append(l.firstAt, e.at)
	}
	l.chunks[c].entries[idx%logChunkSize] = e
	l.next++
	return pos
}

// at returns the live entry at pos, or nil if pos is trimmed or not written.
func (l *eventLog) at(pos int64) *entry {
	if pos < l.head || pos >= l.next {
		return nil
	}
	idx := pos - l.base
	ch := l.chunks[idx/logChunkSize]
	if ch == nil {
		return nil
	}
	e := &ch.entries[idx%logChunkSize]
	if e.event == nil {
		return nil
	}
	return e
}

// kill trims the live entry at pos.
func (l *eventLog) kill(pos int64) {
	idx := pos - l.base
	c := idx / logChunkSize
	ch := l.chunks[c]
	e := &ch.entries[idx%logChunkSize]
	e.event = nil
	ch.dead++
	if ch.dead == logChunkSize { // full, and every entry trimmed
		l.chunks[c] = nil
	}
	if pos == l.head {
		l.advanceHead()
	}
}

// advanceHead moves head past trimmed entries and drops the chunks below it.
func (l *eventLog) advanceHead() {
	for l.head < l.next {
		idx := l.head - l.base
		c := idx / logChunkSize
		ch := l.chunks[c]
		if ch == nil {
			l.head = l.base + (c+1)*logChunkSize
			continue
		}
		if ch.entries[idx%logChunkSize].event != nil {
			break
		}
		l.head++
	}
	for len(l.chunks) > 0 && l.base+logChunkSize <= l.head {
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
		l.firstAt = l.firstAt[1:]
		l.base += logChunkSize
	}
}

// nextLive returns the first live position at or after pos (pos >= head),
// or next if there is none. Freed chunks are skipped whole.
func (l *eventLog) nextLive(pos int64) int64 {
	for pos < l.next {
		idx := pos - l.base
		c := idx / logChunkSize
		ch := l.chunks[c]
		if ch == nil {
			pos = l.base + (c+1)*logChunkSize
			continue
		}
		if ch.entries[idx%logChunkSize].event != nil {
			return pos
		}
		pos++
	}
	return l.next
}

// searchAt returns the first position >= head whose entry was stored at or
// after t (Unix nanoseconds), or next. It is a binary search over chunks and
// then within one: O(log n).
func (l *eventLog) searchAt(t int64) int64 {
	if l.head >= l.next {
		return l.next
	}
	// First chunk whose first entry is at or after t; the answer is in the
	// chunk before it or at its start.
	c := sort.Search(len(l.firstAt), func(i int) bool { return l.firstAt[i] >= t })
	pos := l.base + int64(c)*logChunkSize
	if c > 0 && l.chunks[c-1] != nil {
		start := l.base + int64(c-1)*logChunkSize
		n := int(min(logChunkSize, l.next-start))
		entries := &l.chunks[c-1].entries
		i := sort.Search(n, func(i int) bool { return entries[i].at >= t })
		pos = start + int64(i)
	}
	return max(min(pos, l.next), l.head)
}
