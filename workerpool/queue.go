package workerpool

// entry is one queued task.
type entry struct {
	fn   func()
	seq  uint64 // submit order across all lanes, for EvictOldest
	enq  int64  // Pool.now() at submit when timing is on
	lane uint8
	keep bool // never evicted: see TrySubmitKeep
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
	r.buf[r.head] = entry{} // let the task be collected
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
	e.seq = p.seq
	p.seq++
	p.lanes[l].push(e)
	p.queued++
}

// dequeueLocked takes the next task: the critical lane first, then the
// high, normal and low lanes by weighted round robin. Each lane spends one
// credit per dequeue; a lane without credits, or without tasks, is skipped;
// when no lane with tasks has credits left, every lane gets its weight back.
// p.mu must be held and p.queued > 0.
func (p *Pool) dequeueLocked() (entry, int) {
	if p.lanes[0].n > 0 {
		return p.lanes[0].pop(), 0
	}
	for {
		for l := 1; l < numLanes; l++ {
			if p.credits[l] > 0 && p.lanes[l].n > 0 {
				p.credits[l]--
				return p.lanes[l].pop(), l
			}
		}
		p.credits = p.weights
	}
}
