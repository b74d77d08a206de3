package emitter

import "context"

// Shutdown stops the emitter: calls made after it begins return
// ErrClosed, EmitAsync calls blocked on a full buffer give up with
// ErrClosed (their events were not accepted), calls already inside
// Emit finish, and every event EmitAsync accepted is delivered. Then the
// emitter's goroutine stops and, if the emitter created its own pool, the
// pool is closed.
//
// If ctx ends first Shutdown returns ctx.Err(); delivery goes on in the
// background and a later Shutdown call waits for it again. Shutdown is safe
// to call more than once and concurrently with every other method. A nil ctx
// means context.Background(): wait as long as delivery takes.
//
// Shutdown called from inside an async listener of this emitter waits for
// every accepted event, including the one that listener is handling, so it
// cannot return before ctx ends (with a nil or Background ctx, never).
// From a listener, start it on a goroutine of its own (go em.Shutdown(ctx))
// and let the listener return.
func (e *Emitter) Shutdown(ctx context.Context) error {
	if e.buf == nil {
		return e.unusable()
	}
	return e.shut.Do(ctx, e.beginShutdown, e.finishShutdown) // internal/shutdown
}

// beginShutdown refuses new calls and makes the rescuer drain in place.
func (e *Emitter) beginShutdown() {
	e.state.Or(closedBit)
	close(e.closing)
	e.rescue.Hurry() // stop waiting for pool room: drain in place
	if e.state.Load() == closedBit {
		e.callersOnce.Do(func() { close(e.callersDone) })
	}
}

// finishShutdown waits for callers and drainers, then releases resources.
// It runs once, on the goroutine of the emitter's shutdown.Once.
func (e *Emitter) finishShutdown() error {
	<-e.callersDone
	// Make sure something drains what is left, then wait for it.
	if e.buf.len() > 0 && e.acquire() {
		e.startDrainer(laneNormal)
	}
	e.checkIdle()
	<-e.idle
	_ = e.rescue.Shutdown(context.Background()) // idle: nothing is queued
	e.closeRetries()
	if e.ownsLM {
		_ = e.lm.Stop(context.Background()) // nothing is running: it returns at once
	}
	if e.ownsPool {
		return e.pool.Close(context.Background())
	}
	return nil
}
