package bus

import (
	"context"
	"errors"

	"github.com/novaevents/nova/internal/shutdown"
)

// Shutdown stops the bus. At once, Publish, CreateTopic and the Subscribe
// calls start returning ErrClosed (publishers waiting for room too).
// Then it waits until every event already accepted is settled by every
// subscriber (handled, dead-lettered after its retries, or suppressed as a
// duplicate), retries still waiting for their backoff included, and until
// the queued dead-letter handler calls are made. Last it stops the bus's
// goroutines and, if the bus created its own worker pool, closes it.
//
// If ctx ends first, Shutdown stops waiting: what was not settled is
// counted as DropShutdown (handed back to the broker with Nack, so a durable
// broker delivers it again later), the handlers' context is cancelled, and
// ctx.Err() is returned. Go cannot stop a running function, so some work
// can outlive a Shutdown that ran out of time:
//
//   - handlers still running, which finish their current attempt (nothing
//     new starts): on pool workers, or on the bus's rescuer goroutine when
//     the pool was closed before the bus;
//   - the dead-letter goroutine, which still makes the dead-letter handler
//     calls already queued;
//   - the workers of a pool the bus owns.
//
// Calling Shutdown again waits for all of them (a shared pool's handlers
// excepted: the pool's Close waits for those), until its own ctx ends.
//
// Shutdown is idempotent and safe to call concurrently with anything,
// Publish included: a later call waits for the first to finish and for
// what it left running, as above, and returns the first call's result, or
// its own ctx.Err() if its ctx ends first.
func (b *Bus) Shutdown(ctx context.Context) error {
	if err := b.ready(); err != nil {
		return err
	}
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
		if err := shutdown.Wait(ctx, b.done); err != nil {
			return err
		}
		if err := b.waitLeftovers(ctx); err != nil {
			return err
		}
		return b.shutErr
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
	if b.ownsLM {
		err = errors.Join(err, b.lm.Stop(ctx))
	}
	err = errors.Join(err, b.rescue.Shutdown(ctx))
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

// waitLeftovers waits for what a Shutdown that ran out of time may have
// left running: the rescuer and dead-letter goroutines, and the workers of
// a pool the bus owns.
func (b *Bus) waitLeftovers(ctx context.Context) error {
	if err := shutdown.Wait(ctx, b.rescue.Done()); err != nil {
		return err
	}
	if b.ownsLM {
		if err := b.lm.Stop(ctx); err != nil {
			return err
		}
	}
	if b.ownsPool {
		return b.pool.Close(ctx)
	}
	return nil
}
