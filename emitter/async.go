package emitter

import (
	"context"
	"errors"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// The async path: EmitAsync pushes an item into the ring buf and calls kick.
// kick starts a drainer task on the pool unless maxConc drainers are already
// running. A drainer handles items until buf is empty or it has done
// drainBatch of them, then gives its slot back. The ring's tail and the
// active count close the lost-wakeup race: a producer advances tail and then
// reads active; a drainer decrements active and then reads tail (buf.Len);
// with sequentially consistent atomics at least one of them sees the other,
// so an accepted item is never left without a drainer.

// kick makes sure a drainer will run, if there is room for another.
func (e *Emitter) kick(ev shared.Event) {
	if !e.acquire() {
		return
	}
	e.startDrainer(ev)
}

func (e *Emitter) acquire() bool {
	for {
		a := e.active.Load()
		if a >= e.maxConc {
			return false
		}
		if e.active.CompareAndSwap(a, a+1) {
			return true
		}
	}
}

// startDrainer submits a drainer for a slot already acquired. It never
// blocks: if the pool's queue is full (or the pool is closed) the rescuer
// goroutine takes over.
func (e *Emitter) startDrainer(ev shared.Event) {
	pr := workerpool.PriorityNormal
	if e.cfg.Priority != nil && ev != nil {
		pr = e.cfg.Priority(ev)
	}
	// Keep: a pool with an eviction policy must never drop a drainer.
	if err := e.pool.TrySubmitKeep(pr, e.drainFn); err == nil {
		return
	}
	select {
	case e.rescue <- struct{}{}:
	default:
		// A rescue is already requested, and the drainer it starts handles
		// everything in the buffer, this slot's events included. Give the
		// slot back so the count stays true.
		e.active.Add(-1)
		e.checkIdle()
	}
}

func (e *Emitter) drain() {
	// Handled events are counted once per batch, not once per event: the
	// drainers would otherwise contend for the counter's cache line. The
	// count is added before the slot is given back, so Stats read after
	// Shutdown include every event.
	handled := uint64(0)
	for n := 0; n < drainBatch; n++ {
		if e.retryLen.Load() > 0 {
			if r, ok := e.popRetry(); ok {
				e.handleRetry(r)
				continue
			}
		}
		it, ok := e.buf.pop()
		if !ok {
			e.st.asyncDone.Add(handled)
			handled = 0
			e.active.Add(-1)
			if (e.buf.len() > 0 || e.retryLen.Load() > 0) && e.acquire() {
				continue
			}
			e.checkIdle()
			return
		}
		if e.waiters.Load() > 0 {
			e.signalSpace()
		}
		e.handleAsync(it)
		handled++
	}
	// Batch done: hand the worker back and queue a fresh drainer behind
	// whatever else the pool has waiting.
	e.st.asyncDone.Add(handled)
	e.startDrainer(nil)
}

func (e *Emitter) handleAsync(it item) {
	err := e.deliver(it.ctx, e.table.Load(), it.ev, true)
	if err != nil {
		e.reportAsync(it.ev, err)
	}
}

func (e *Emitter) reportAsync(ev shared.Event, err error) {
	if h := e.cfg.OnAsyncError; h != nil {
		h(ev, err)
	} else if l := e.cfg.Logger; l != nil {
		l.Debug("nova: async event failed", "event_id", ev.ID(), "event_type", ev.Type(), "error", err)
	}
}

// runRescuer is the emitter's own goroutine. It starts drainers whose
// TrySubmit failed: it waits for room in the pool, or, if the pool is
// closed, drains in place so accepted events are still delivered.
func (e *Emitter) runRescuer() {
	defer e.rescuer.Done()
	for {
		select {
		case <-e.rescue:
		case <-e.idle:
			return
		}
		err := e.pool.SubmitKeep(e.closingContext(), workerpool.PriorityNormal, e.drainFn)
		if err == nil {
			continue
		}
		if errors.Is(err, workerpool.ErrPoolClosed) || errors.Is(err, context.Canceled) {
			e.drain()
		}
	}
}

// closingContext is cancelled when Shutdown begins, so the rescuer stops
// waiting for pool room and drains in place instead.
func (e *Emitter) closingContext() context.Context {
	return closingCtx{e.closing}
}

type closingCtx struct{ done chan struct{} }

func (c closingCtx) Deadline() (deadline time.Time, ok bool) { return }
func (c closingCtx) Done() <-chan struct{}                   { return c.done }
func (c closingCtx) Value(any) any                           { return nil }
func (c closingCtx) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
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
	if e.buf.len() == 0 && e.active.Load() == 0 && e.retrying.Load() == 0 {
		e.idleOnce.Do(func() { close(e.idle) })
	}
}
