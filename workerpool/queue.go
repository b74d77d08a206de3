package workerpool

// entry is one queued task: 16 bytes, so that four share a cache line.
type entry struct {
	fn func()
	// meta packs, from the low bit up: the lane (2 bits), keep (1 bit: never
	// evicted, see TrySubmitKeep) and a stamp (61 bits). The stamp is the
	// Pool.now() of the submit when timing is on; when the pool stamps its
	// entries (timing or EvictOldest) pushLocked makes it strictly
	// increasing, so that it also gives the submit order across lanes.
	meta uint64
}

const (
	metaLane  = 3
	metaKeep  = 4
	metaShift = 3
)

func newEntry(fn func(), lane int, keep bool) entry {
	e := entry{fn: fn, meta: uint64(lane)}
	if keep {
		e.meta |= metaKeep
	}
	return e
}

func (e *entry) lane() int    { return int(e.meta & metaLane) }
func (e *entry) keep() bool   { return e.meta&metaKeep != 0 }
func (e *entry) stamp() int64 { return int64(e.meta >> metaShift) }
func (e *entry) setStamp(t int64) {
	e.meta = e.meta&(1<<metaShift-1) | uint64(t)<<metaShift
}

// ring is a FIFO of entries in a power-of-two circular buffer that grows
// on demand; the pool keeps the total across lanes within its capacity.
type ring struct {
	buf  []entry
	head int
	n    int
}

func (r *ring) push(e entry) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = e
	r.n++
}

// pop removes and returns the oldest entry; the ring must not be empty.
func (r *ring) pop() entry {
	e := r.buf[r.head]
	r.buf[r.head].fn = nil // let the task be collected
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	return e
}

// front returns the oldest entry; the ring must not be empty.
func (r *ring) front() *entry { return &r.buf[r.head] }

func (r *ring) grow() {
	size := max(16, 2*len(r.buf))
	buf := make([]entry, size)
	for i := range r.n {
		buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = buf, 0
}

// pushLocked queues e in lane l. p.mu must be held and the capacity checked.
func (p *Pool) pushLocked(l int, e entry) {
	if p.stamped {
		s := max(e.stamp(), p.lastStamp+1)
		p.lastStamp = s
		e.setStamp(s)
	}
	p.lanes[l].push(e)
	p.nonEmpty |= 1 << l
	p.queued++
}

// popLocked removes the first task of lane l, which must not be empty; it
// does not change p.queued. p.mu must be held.
func (p *Pool) popLocked(l int) entry {
	q := &p.lanes[l]
	e := q.pop()
	if q.n == 0 {
		p.nonEmpty &^= 1 << l
	}
	return e
}

// dequeueLocked takes the next task: the critical lane first, then the
// high, normal and low lanes by weighted round robin. Each lane spends one
// credit per dequeue; a lane without credits, or without tasks, is skipped;
// when no lane with tasks has credits left, every lane gets its weight back.
// p.mu must be held and p.queued > 0.
func (p *Pool) dequeueLocked() (entry, int) {
	if p.nonEmpty&1 != 0 {
		return p.popLocked(0), 0
	}
	for {
		for l := 1; l < numLanes; l++ {
			if p.credits[l] > 0 && p.nonEmpty&(1<<l) != 0 {
				p.credits[l]--
				return p.popLocked(l), l
			}
		}
		p.credits = p.weights
	}
}
