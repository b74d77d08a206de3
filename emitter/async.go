package emitter

import (
	"errors"
	"fmt"

	"github.com/novaevents/nova/shared"
)

// The async path: EmitAsync pushes an item into the ring buf and calls kick.
// kick starts a drainer task on the pool unless MaxConcurrency drainers are already
// running. A drainer handles items until buf is empty or it has done
// drainBatch of them, then gives its slot back. The ring's tail and the
// active count close the lost-wakeup race: a producer advances tail and then
// reads active; a drainer decrements active and then reads tail (buf.Len);
// with sequentially consistent atomics at least one of them sees the other,
// so an accepted item is never left without a drainer.

// kick makes sure a drainer will run, if there is room for another. lane is
// the buffer lane of the event that calls for it.
func (e *Emitter) kick(lane int) {
	if !e.acquire() {
		return
	}
	e.startDrainer(lane)
}

func (e *Emitter) acquire() bool { return e.active.TryAcquire() }

// startDrainer submits a drainer for a slot already acquired, in the pool
// lane that matches lane. It never blocks: if the pool's queue is full (or
// the pool is closed) the rescuer (internal/drain) takes over.
func (e *Emitter) startDrainer(lane int) {
	// Keep: a pool with an eviction policy must never drop a drainer.
	if !e.rescue.Submit(lanePriority(lane), e.drainFn) {
		// Only once Shutdown is over: nothing is left to drain.
		e.active.Release()
		e.checkIdle()
	}
}

// drainer is the state of one drainer task. It lives outside drainSome's
// loop so that a panic recovered in the middle of a batch loses nothing:
// the slot stays held, the events already handled are still counted, and
// the batch goes on.
type drainer struct {
	n        int          // events and retries taken in this batch
	handled  uint64       // async events finished, not yet added to asyncDone
	cur      shared.Event // the event in hand, for the recovery
	retry    bool         // cur is a managed-listener retry
	handedOn bool         // the slot went to a new drainer (runtime.Goexit)
}

func (e *Emitter) drain() {
	var d drainer
	for !e.drainSome(&d) && !d.handedOn {
		// Something panicked outside the places that recover on their own
		// (a Metrics hook, the listener manager): drainSome recovered and
		// accounted for the event in hand. Go on with the batch.
	}
}

// drainSome handles events and retries until the buffer is empty or the
// batch is done, and reports true then. It reports false after recovering a
// panic. One deferred recover covers the whole batch.
func (e *Emitter) drainSome(d *drainer) (done bool) {
	defer func() {
		if !done {
			e.recoverDrainer(d, recover())
		}
	}()
	// Handled events are counted once per batch, not once per event: the
	// drainers would otherwise contend for the counter's cache line. The
	// count is added before the slot is given back, so Stats read after
	// Shutdown include every event.
	for ; d.n < drainBatch; d.n++ {
		if e.retryLen.Load() > 0 {
			if r, ok := e.popRetry(); ok {
				d.cur, d.retry = r.ev, true
				e.handleRetry(r)
				d.cur, d.retry = nil, false
				continue
			}
		}
		it, ok := e.buf.pop()
		if !ok {
			e.st.asyncDone.Add(d.handled)
			d.handled = 0
			e.active.Release()
			if (e.buf.len() > 0 || e.retryLen.Load() > 0) && e.acquire() {
				continue
			}
			e.checkIdle()
			return true
		}
		if e.waiters.Load() > 0 {
			e.signalSpace()
		}
		d.cur = it.ev
		e.handleAsync(it)
		d.cur = nil
		d.handled++
	}
	// Batch done: hand the worker back and queue a fresh drainer behind
	// whatever else the pool has waiting.
	e.st.asyncDone.Add(d.handled)
	d.handled = 0
	e.startDrainer(laneNormal)
	return true
}

// recoverDrainer runs when drainSome unwinds: v is the recovered panic, or
// nil when the goroutine is ending through runtime.Goexit. The event in
// hand counts as failed and processed (a retry as finished), and the panic
// reaches OnAsyncError as a *shared.PanicError.
func (e *Emitter) recoverDrainer(d *drainer, v any) {
	if ev := d.cur; ev != nil {
		d.cur = nil
		e.st.hookPanics.Add(1)
		e.st.failed.Add(1)
		var cause error = shared.NewPanicError(v)
		if v == nil {
			cause = errGoexit
		}
		e.reportAsync(ev, fmt.Errorf("emitter: delivery of event %q aborted: %w", ev.ID(), cause))
		if d.retry {
			d.retry = false
			e.retryDone()
		} else {
			d.handled++
		}
	}
	d.n++ // the loop's post statement was skipped
	if v == nil {
		// runtime.Goexit: this goroutine ends whatever we do. Count what it
		// handled and hand its slot to a new drainer.
		d.handedOn = true
		e.st.asyncDone.Add(d.handled)
		d.handled = 0
		e.startDrainer(laneNormal)
	}
}

var errGoexit = errors.New("emitter: runtime.Goexit called during delivery")

func (e *Emitter) handleAsync(it item) {
	t := e.table.Load()
	err := e.deliver(it.ctx, t, it.ev, t.exact[it.ev.Type()], true)
	if err != nil {
		e.reportAsync(it.ev, err)
	}
}

// reportAsync hands the error of an async event to OnAsyncError, or logs
// it. A panic in OnAsyncError or the Logger is recovered and counted in
// HookPanics: it must not take the drainer down.
func (e *Emitter) reportAsync(ev shared.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			e.st.hookPanics.Add(1)
		}
	}()
	if h := e.cfg.OnAsyncError; h != nil {
		h(ev, err)
	} else if l := e.cfg.Logger; l != nil {
		l.Debug("nova: async event failed", "event_id", ev.ID(), "event_type", ev.Type(), "error", err)
	}
}

// checkIdle closes idle once Shutdown has begun, every caller has left and
// nothing is pending or running.
func (e *Emitter) checkIdle() {
	if !e.closed() {
		return
	}
	select {
	case <-e.callersDone:
	default:
		return
	}
	if e.buf.len() == 0 && e.active.Taken() == 0 && e.retrying.Load() == 0 {
		e.idleOnce.Do(func() { close(e.idle) })
	}
}
