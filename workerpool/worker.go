package workerpool

import (
	"time"

	"github.com/novaevents/nova/shared"
)

// worker is the state of one worker goroutine.
type worker struct {
	ch      chan entry // a task handed over while parked; entry{} means stop
	gid     uint64
	idleAt  int64 // Pool.now() when it parked (dynamic pools)
	stopped bool  // its slot was given back (live--) by whoever stopped it
	inTasks int   // tasks running on this goroutine: more than one when a task ran another inline
	inFn    bool  // the loop's own task is running (not pool code), see work
	run     timedRun
}

// timedRun is what a worker knows of its task when timing is on, kept so
// that a panicking task is reported like one that returned.
type timedRun struct {
	start, wait int64
	lane        int
}

// startLocked starts a worker, with e as its first task if e.fn is set. The
// size check and the start happen under the same lock. p.mu must be held.
func (p *Pool) startLocked(e entry) {
	p.live++
	p.procs++
	if e.fn != nil {
		p.running++
	}
	w := &worker{ch: make(chan entry, 1)}
	go p.runWorker(w, e)
}

// popIdleLocked removes the most recently parked worker. p.mu must be held
// and p.idle not empty.
func (p *Pool) popIdleLocked() *worker {
	n := len(p.idle) - 1
	w := p.idle[n]
	p.idle[n] = nil
	p.idle = p.idle[:n]
	p.nidle = n
	return w
}

// stopLocked tells a parked worker (already removed from p.idle) to exit.
func (p *Pool) stopLocked(w *worker) {
	w.stopped = true
	p.live--
	w.ch <- entry{}
}

// runWorker is a worker's loop: run the task in hand, then take the next one
// from the lanes, or park until a submit hands one over.
func (p *Pool) runWorker(w *worker, e entry) {
	w.gid = goid()
	p.mu.Lock()
	p.byGID[w.gid] = w
	p.mu.Unlock()
	defer p.workerExit(w)
	for p.work(w, e) {
		e = entry{}
	}
}

// work runs tasks until the worker has to exit (it returns false) or a task
// panics (the panic is recovered and accounted for, and it returns true:
// runWorker calls it again). One deferred recover covers the whole loop,
// which spares every task the cost of its own. Only a panic from the task
// itself is recovered; a runtime.Goexit in a task ends the goroutine
// (workerExit accounts for it).
func (p *Pool) work(w *worker, e entry) (again bool) {
	defer func() {
		if !w.inFn {
			return // a normal return, or a panic in the pool's own code
		}
		r := recover()
		if r == nil {
			return // runtime.Goexit
		}
		w.inFn = false
		w.inTasks--
		p.reportPanic(r)
		if p.timing {
			p.timed(w.run, true)
		}
		p.mu.Lock()
		p.finishLocked(true)
		p.mu.Unlock()
		again = true
	}()
	for {
		if e.fn != nil {
			w.inTasks++
			if p.timing {
				w.run = p.startTimed(&e)
			}
			w.inFn = true
			e.fn()
			w.inFn = false
			if p.timing {
				p.timed(w.run, false)
			}
			w.inTasks--
			p.mu.Lock()
			p.finishLocked(false)
		} else {
			p.mu.Lock()
		}
		if p.live > p.maxW {
			p.live--
			w.stopped = true
			if p.nwaiting > 0 {
				p.recheckWaitersLocked()
			}
			p.mu.Unlock()
			return false
		}
		if p.queued > 0 {
			var depth int
			e, depth = p.takeLocked()
			p.mu.Unlock()
			if p.metrics != nil {
				p.metrics.QueueDepth(p.cfg.name, laneNames[e.lane()], depth)
			}
			continue
		}
		if p.closed {
			p.live--
			w.stopped = true
			p.mu.Unlock()
			return false
		}
		p.idle = append(p.idle, w)
		p.nidle++
		if !p.static {
			w.idleAt = p.now()
			p.armReaperLocked()
		}
		if p.quiet != nil && p.running == p.inWait {
			p.notifyQuietLocked()
		}
		p.mu.Unlock()
		e = <-w.ch
		if e.fn == nil {
			return false
		}
	}
}

// takeLocked dequeues the next task for a worker, counts it as running and
// lets one waiting submit into the room it leaves. It returns the task and
// the depth of its lane afterwards. p.mu must be held and p.queued > 0.
func (p *Pool) takeLocked() (entry, int) {
	e, l := p.dequeueLocked()
	p.queued--
	if p.queued == 0 {
		p.credits = p.weights // a busy period ends: the next starts a fresh round
	}
	p.running++
	p.lanes[l].dequeued++
	if p.nwaiting > 0 {
		p.admitLocked()
	}
	return e, p.lanes[l].n
}

// finishLocked accounts for a task that returned or panicked.
func (p *Pool) finishLocked(panicked bool) {
	p.running--
	p.done++
	if panicked {
		p.n.failed++
		p.n.panicked++
	}
}

// startTimed records the wait of the task e, about to run.
func (p *Pool) startTimed(e *entry) timedRun {
	start := p.now()
	wait := start - e.stamp()
	p.hist[e.lane()][waitBucket(time.Duration(wait))].Add(1)
	return timedRun{start: start, wait: wait, lane: e.lane()}
}

// timed records the run of a task that has just finished.
func (p *Pool) timed(t timedRun, panicked bool) {
	run := p.now() - t.start
	p.busy.Add(run)
	if p.metrics != nil {
		p.metrics.TaskDone(p.cfg.name, laneNames[t.lane], time.Duration(t.wait), time.Duration(run), panicked)
	}
}

// execute runs a task outside a worker's loop (inline in a submitting task,
// or helping from Drain or Close), timing it when timing is on and
// recovering a panic, and reports whether it panicked.
func (p *Pool) execute(e *entry) bool {
	if !p.timing {
		return p.call(e.fn)
	}
	t := p.startTimed(e)
	panicked := p.call(e.fn)
	p.timed(t, panicked)
	return panicked
}

// call runs fn, recovering a panic. A runtime.Goexit in fn is not a panic:
// it ends the worker goroutine, and workerExit accounts for it.
func (p *Pool) call(fn func()) (panicked bool) {
	returned := false
	defer func() {
		if returned {
			return
		}
		if r := recover(); r != nil {
			panicked = true
			p.reportPanic(r)
		}
	}()
	fn()
	returned = true
	return false
}

// reportPanic hands a recovered panic to the panic handler, if any; a panic
// in the handler itself is dropped so that the worker survives.
func (p *Pool) reportPanic(r any) {
	if p.cfg.onPanic == nil {
		return
	}
	pe := shared.NewPanicError(r)
	defer func() { _ = recover() }()
	p.cfg.onPanic(pe)
}

// workerExit runs when a worker goroutine returns: normally (stopped, pool
// closed or shrunk) or because a task called runtime.Goexit. In that case
// the tasks it was running count as failed and a replacement starts if work
// is waiting.
func (p *Pool) workerExit(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := w.inTasks; n > 0 {
		p.running -= n
		p.done += uint64(n)
		p.n.failed += uint64(n)
	}
	if !w.stopped {
		p.live--
	}
	p.procs--
	delete(p.byGID, w.gid)
	if w.inTasks > 0 && p.live < p.maxW && (p.queued > 0 || !p.closed && p.live < p.minW) {
		p.startLocked(entry{})
	}
	if p.quiet != nil {
		p.notifyQuietLocked()
	}
}

// notifyQuietLocked wakes Drain and Close callers so they check again.
func (p *Pool) notifyQuietLocked() {
	close(p.quiet)
	p.quiet = nil
}

// armReaperLocked schedules the retirement of idle workers above the
// minimum, unless it is already scheduled.
func (p *Pool) armReaperLocked() {
	if p.reaperArmed || p.live <= p.minW || p.closed {
		return
	}
	p.reaperArmed = true
	if p.reaper == nil {
		p.reaper = time.AfterFunc(p.cfg.idleTimeout, p.reap)
	} else {
		p.reaper.Reset(p.cfg.idleTimeout)
	}
}

// reap stops the workers idle for the idle timeout or longer, the longest
// idle first, while more than the minimum are alive; then it schedules
// itself for the next one due.
func (p *Pool) reap() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reaperArmed = false
	if p.closed {
		return
	}
	now, timeout := p.now(), int64(p.cfg.idleTimeout)
	n := 0
	for n < len(p.idle) && p.live > p.minW && now-p.idle[n].idleAt >= timeout {
		p.stopLocked(p.idle[n])
		n++
	}
	if n > 0 {
		rest := copy(p.idle, p.idle[n:])
		clear(p.idle[rest:])
		p.idle = p.idle[:rest]
		p.nidle = rest
	}
	if p.live > p.minW && len(p.idle) > 0 {
		p.reaperArmed = true
		p.reaper.Reset(time.Duration(p.idle[0].idleAt + timeout - now))
	}
}
