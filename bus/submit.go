package bus

import (
	"context"

	"github.com/novaevents/nova/workerpool"
)

// submit hands a lane's drainer to the pool without blocking, through the
// bus's rescuer (internal/drain): when the pool's queue is full it waits
// for room on the rescuer's goroutine, and once the pool is closed (its
// owner closed it before the bus's Shutdown) the rescuer runs the drainer
// itself, so that accepted events are still delivered. A wake-up is never
// lost and no goroutine is started for it.
func (b *Bus) submit(ln *lane, pr workerpool.Priority) {
	if !b.rescue.Submit(pr, ln.drainFn) {
		// Only after Shutdown has settled everything: nothing is left to
		// run, so give the drainer's slot back.
		ln.release()
	}
}

// waitDone waits until done is closed (nil) or ctx ends (ctx.Err()),
// preferring done when both are ready.
func waitDone(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	default:
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
