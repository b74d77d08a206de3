package bus

import (
	"context"
	"errors"
)

// Shutdown stops the bus. At once, Publish, CreateTopic and the Subscribe
// calls start returning ErrBusClosed (publishers waiting for room too).
// Then it waits until every event already accepted is settled by every
// subscriber (handled, dead-lettered after its retries, or suppressed as a
// duplicate), retries still waiting for their backoff included, and until
// the queued dead-letter handler calls are made. Last it stops the bus's
// goroutines and, if the bus created its own worker pool, closes it.
//
// If ctx ends first, Shutdown stops waiting: what was not settled is
// counted as DropShutdown (handed back to the broker with Nack, so a durable
// broker delivers it again later), the handlers' context is cancelled, and
// ctx.Err() is returned. Handlers still running are not interrupted; with a
// pool the bus owns, Shutdown waits for them while ctx lasts.
//
// Shutdown is idempotent and safe to call concurrently with anything,
// Publish included: a second call waits for the first to finish (or for
// its own ctx) and returns the same result.
func (b *Bus) Shutdown(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	b.mu.Lock()
	first := !b.closing
	var topics []*topic
	if first {
		b.closing = true
		b.closed.Store(true)
		for _, t := range *b.topics.Load() {
			topics = append(topics, t)
		}
	}
	b.mu.Unlock()
	if !first {
		select {
		case <-b.done:
			return b.shutErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	for _, t := range topics {
		for i := range t.parts {
			t.parts[i].p.Close()
		}
	}
	var err error
wait:
	for _, t := range topics {
		for i := range t.parts {
			select {
			case <-t.parts[i].p.Drained():
			case <-ctx.Done():
				err = ctx.Err()
				break wait
			}
		}
	}
	if err != nil {
		b.cancel()
		b.mu.Lock()
		for _, t := range topics {
			for _, c := range t.consumers {
				for _, ln := range c.lanes {
					ln.close(DropShutdown, true)
				}
			}
		}
		b.mu.Unlock()
	}

	// Everything is settled or abandoned. Retries still scheduled belong to
	// closed lanes (they were counted); running them just lets them go.
	for _, fn := range b.delay.Close() {
		fn()
	}
	err = errors.Join(err, b.dead.shutdown(ctx))
	b.rescue.shutdown()
	if b.ownsPool {
		err = errors.Join(err, b.pool.Close(ctx))
	}
	b.cancel()
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	b.shutErr = err
	close(b.done)
	return err
}
