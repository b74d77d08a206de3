package workerpool

import (
	"context"
	"errors"
	"time"
)

// waiter is a submit waiting for room in a full queue.
type waiter struct {
	e     entry
	ready chan struct{} // receives one value when done is set
	done  bool          // the task was queued (err nil) or refused (err set)
	err   error
	timer *time.Timer // reused by BlockTimeout waits
}

// Submit queues task in the normal lane. When the queue is full it applies
// the pool's overflow policy: under Block (the default) it waits until there
// is room, ctx is done (it returns ctx.Err()) or the pool closes
// (ErrClosed). When there is room the task is accepted even if ctx is
// already done. It returns ErrNilTask for a nil task.
//
// Called from a task of this same pool while the queue is full, Submit
// never leaves every worker waiting: when the calling worker would be the
// last one free, it runs the task at once itself and returns nil (see
// "Tasks that submit" in the package doc).
func (p *Pool) Submit(ctx context.Context, task func()) error {
	return p.submit(ctx, PriorityNormal, task, true)
}

// TrySubmit queues task in the normal lane without ever waiting: when the
// queue is full it returns ErrQueueFull, unless the policy is EvictOldest
// or EvictLowerPriority, which make room by evicting.
func (p *Pool) TrySubmit(task func()) error {
	return p.submit(context.Background(), PriorityNormal, task, false)
}

// SubmitPriority is Submit into the lane of pr. It returns
// ErrInvalidPriority for a priority outside PriorityLow..PriorityCritical.
func (p *Pool) SubmitPriority(ctx context.Context, pr Priority, task func()) error {
	return p.submit(ctx, pr, task, true)
}

// TrySubmitPriority is TrySubmit into the lane of pr.
func (p *Pool) TrySubmitPriority(pr Priority, task func()) error {
	return p.submit(context.Background(), pr, task, false)
}

// TrySubmitKeep is TrySubmitPriority for a task that must not be lost
// once queued: whatever the overflow policy, it is never evicted to make
// room for another task, and it never evicts one itself (a full queue
// returns ErrQueueFull). The emitter and the bus queue their drainer tasks
// this way, since a drainer that never runs would strand their buffers.
func (p *Pool) TrySubmitKeep(pr Priority, task func()) error {
	return p.submitEntry(context.Background(), pr, task, false, true)
}

// SubmitKeep is the waiting form of TrySubmitKeep: when the queue is full
// it waits for room until ctx is done or the pool closes, whatever the
// overflow policy (it never evicts, is never evicted and ignores
// BlockTimeout). The emitter and the bus use it for a drainer that
// TrySubmitKeep could not queue.
func (p *Pool) SubmitKeep(ctx context.Context, pr Priority, task func()) error {
	return p.submitEntry(ctx, pr, task, true, true)
}

func (p *Pool) submit(ctx context.Context, pr Priority, fn func(), mayWait bool) error {
	return p.submitEntry(ctx, pr, fn, mayWait, false)
}

func (p *Pool) submitEntry(ctx context.Context, pr Priority, fn func(), mayWait, keep bool) error {
	if p.capacity == 0 { // not made by New, or made from nonsense
		return p.Err()
	}
	if fn == nil {
		return ErrNilTask
	}
	if !pr.Valid() {
		return ErrInvalidPriority
	}
	l := pr.lane()
	e := newEntry(fn, l, keep)
	if p.timing {
		e.setStamp(p.now())
	}
	if ctx == nil {
		ctx = context.Background()
	}
	var gid uint64
	for {
		p.mu.Lock()
		if p.closed {
			return p.rejectLocked(l, ErrClosed, "closed")
		}
		if p.nidle > 0 { // the lanes are empty: hand the task over
			w := p.popIdleLocked()
			p.acceptLocked(l)
			p.running++
			p.mu.Unlock()
			w.ch <- e
			return nil
		}
		if p.live < p.maxW { // a dynamic pool grows on demand
			p.acceptLocked(l)
			p.startLocked(e)
			p.mu.Unlock()
			return nil
		}
		if p.queued < p.capacity {
			p.acceptLocked(l)
			p.pushLocked(l, e)
			depth := p.lanes[l].n
			p.mu.Unlock()
			if p.metrics != nil {
				p.metrics.QueueDepth(p.cfg.name, laneNames[l], depth)
			}
			return nil
		}
		// A kept task neither evicts nor is refused by policy: it fails at
		// once (TrySubmitKeep) or waits for room (SubmitKeep).
		switch {
		case keep:
		case p.cfg.overflow.kind == overflowRejectNew:
			return p.rejectLocked(l, ErrQueueFull, "queue_full")
		case p.cfg.overflow.kind == overflowEvictOldest, p.cfg.overflow.kind == overflowEvictLowerPriority:
			return p.evictForLocked(l, e)
		}
		if !mayWait {
			return p.rejectLocked(l, ErrQueueFull, "queue_full")
		}
		// Waiting could deadlock only if every worker ended up here, each
		// inside a task that submits to its own pool. The last one to arrive
		// sees at least as many waiters as workers: only then is it worth
		// finding out (outside the lock, it takes microseconds) whether the
		// caller is one of our workers, which runs the task itself instead.
		if gid == 0 && p.nwaiting+1 >= p.live {
			p.mu.Unlock()
			gid = goid()
			continue
		}
		if w := p.byGID[gid]; gid != 0 && w != nil {
			return p.runInlineLocked(w, l, e)
		}
		if err := p.waitLocked(ctx, e); err != errRecheck {
			return err
		}
		gid = 0
	}
}

// errRecheck ends a wait when the number of workers dropped: the waiter
// goes round the submit loop again, which may run the task inline.
var errRecheck = errors.New("workerpool: recheck")

// recheckWaitersLocked ends every wait with errRecheck.
func (p *Pool) recheckWaitersLocked() {
	for l := range numLanes {
		for _, wt := range p.waiters[l] {
			p.resolveLocked(wt, errRecheck)
		}
		clear(p.waiters[l])
		p.waiters[l] = p.waiters[l][:0]
	}
	p.nwaiting = 0
}

// acceptLocked counts an accepted task.
func (p *Pool) acceptLocked(l int) {
	p.lanes[l].submitted++
}

// rejectLocked counts a refused task, unlocks p.mu and returns err.
func (p *Pool) rejectLocked(l int, err error, reason string) error {
	p.n.rejected++
	p.n.laneRejected[l]++
	p.mu.Unlock()
	if p.metrics != nil {
		p.metrics.EventDropped(p.cfg.name, reason)
	}
	return err
}

// oldestLaneLocked returns the lane whose first task was queued first.
func (p *Pool) oldestLaneLocked() int {
	best := -1
	for l := range numLanes {
		if p.lanes[l].n > 0 && (best < 0 || p.lanes[l].front().stamp() < p.lanes[best].front().stamp()) {
			best = l
		}
	}
	return best
}

// lowerLaneLocked returns the lowest-priority non-empty lane below lane l,
// or -1.
func (p *Pool) lowerLaneLocked(l int) int {
	for v := numLanes - 1; v > l; v-- {
		if p.lanes[v].n > 0 {
			return v
		}
	}
	return -1
}

// evictForLocked makes room for e by the eviction policy, passing over
// tasks submitted with TrySubmitKeep (they move to the back of their lane,
// which only reorders drainers). With nothing evictable it rejects e.
func (p *Pool) evictForLocked(l int, e entry) error {
	for tries := p.queued; tries > 0; tries-- {
		var v int
		if p.cfg.overflow.kind == overflowEvictOldest {
			v = p.oldestLaneLocked()
		} else {
			v = p.lowerLaneLocked(l)
		}
		if v < 0 {
			break
		}
		if !p.lanes[v].front().keep() {
			return p.evictLocked(v, l, e)
		}
		p.lanes[v].push(p.lanes[v].pop())
	}
	return p.rejectLocked(l, ErrQueueFull, "queue_full")
}

// evictLocked replaces the first task of lane v with e in lane l, unlocks
// p.mu and hands the evicted task to OnEvict.
func (p *Pool) evictLocked(v, l int, e entry) error {
	old := p.popLocked(v)
	p.queued--
	p.n.evicted++
	p.n.laneEvicted[v]++
	p.acceptLocked(l)
	p.pushLocked(l, e)
	p.mu.Unlock()
	if p.metrics != nil {
		p.metrics.EventDropped(p.cfg.name, "evicted")
	}
	if p.cfg.onEvict != nil {
		p.cfg.onEvict(old.fn, lanePriority(v))
	}
	return nil
}

// runInlineLocked runs a task submitted by worker w to its own full pool in
// w's goroutine, and unlocks p.mu.
func (p *Pool) runInlineLocked(w *worker, l int, e entry) error {
	p.acceptLocked(l)
	p.n.inline++
	p.running++
	p.mu.Unlock()
	w.inTasks++
	panicked := p.execute(&e)
	w.inTasks--
	p.mu.Lock()
	p.finishLocked(panicked)
	p.mu.Unlock()
	return nil
}

// waitLocked waits for room for e, unlocking p.mu. A worker taking a task
// moves the first waiter of the most urgent lane into the queue (admitLocked).
func (p *Pool) waitLocked(ctx context.Context, e entry) error {
	if err := ctx.Err(); err != nil {
		return p.rejectLocked(e.lane(), err, "canceled")
	}
	wt := p.getWaiterLocked()
	wt.e = e
	l := e.lane()
	p.waiters[l] = append(p.waiters[l], wt)
	p.nwaiting++
	p.mu.Unlock()

	var expired <-chan time.Time
	if d := p.cfg.overflow.timeout; d > 0 && !e.keep() {
		if wt.timer == nil {
			wt.timer = time.NewTimer(d)
		} else {
			wt.timer.Reset(d)
		}
		expired = wt.timer.C
	}
	var err error
	woken := false
	select {
	case <-wt.ready:
		woken = true
	case <-ctx.Done():
		err = ctx.Err()
	case <-expired:
		err = ErrQueueFull
	}
	if wt.timer != nil {
		wt.timer.Stop()
	}

	p.mu.Lock()
	resolved := wt.done
	if resolved {
		if !woken {
			<-wt.ready // sent under the lock, so it is there
		}
		err = wt.err
	} else {
		p.removeWaiterLocked(wt)
		p.n.rejected++
		p.n.laneRejected[l]++
	}
	wt.e, wt.done, wt.err = entry{}, false, nil
	p.free = append(p.free, wt)
	p.mu.Unlock()
	if err != nil && !resolved && p.metrics != nil {
		reason := "canceled"
		if err == ErrQueueFull {
			reason = "queue_full"
		}
		p.metrics.EventDropped(p.cfg.name, reason)
	}
	return err
}

func (p *Pool) getWaiterLocked() *waiter {
	if n := len(p.free); n > 0 {
		wt := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return wt
	}
	return &waiter{ready: make(chan struct{}, 1)}
}

func (p *Pool) removeWaiterLocked(wt *waiter) {
	l := wt.e.lane()
	ws := p.waiters[l]
	for i, x := range ws {
		if x == wt {
			copy(ws[i:], ws[i+1:])
			ws[len(ws)-1] = nil
			p.waiters[l] = ws[:len(ws)-1]
			p.nwaiting--
			return
		}
	}
}

// admitLocked moves one waiting submit into the queue, which has just
// gained a free place. Waiters are chosen like tasks are dequeued (critical
// first, then weighted round robin with credits of their own), so a flood of
// waiting high-priority submits cannot keep a low-priority one out forever.
// p.mu must be held and p.nwaiting > 0.
func (p *Pool) admitLocked() {
	l := 0
	if len(p.waiters[0]) == 0 {
		for l = 1; ; l++ {
			if l == numLanes {
				p.admitCredits = p.weights
				l = 0
				continue
			}
			if p.admitCredits[l] > 0 && len(p.waiters[l]) > 0 {
				p.admitCredits[l]--
				break
			}
		}
	}
	ws := p.waiters[l]
	wt := ws[0]
	copy(ws, ws[1:])
	ws[len(ws)-1] = nil
	p.waiters[l] = ws[:len(ws)-1]
	p.nwaiting--
	p.acceptLocked(l)
	if p.timing { // its wait in the lane starts now
		wt.e.setStamp(p.now())
	}
	p.pushLocked(l, wt.e)
	p.resolveLocked(wt, nil)
}

// resolveLocked ends a wait with err (nil: the task was queued).
func (p *Pool) resolveLocked(wt *waiter, err error) {
	wt.done, wt.err = true, err
	wt.ready <- struct{}{}
}
