package shutdown

import (
	"context"
	"sync"
)

// Once runs a shutdown once. Its zero value is ready; it must not be
// copied once used. It is safe for concurrent use.
type Once struct {
	once sync.Once
	mu   sync.Mutex
	done chan struct{}
	err  error
}

// Do begins the shutdown on its first call: begin runs at once on the
// caller's goroutine (stop accepting: when Do returns, even with ctx.Err(),
// it has run), then finish on a goroutine of its own. Every call waits for
// finish to return and returns its error, or returns ctx.Err() if ctx ends
// first. A nil ctx means context.Background(). begin may be nil.
func (o *Once) Do(ctx context.Context, begin func(), finish func() error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	done := o.doneChan()
	o.once.Do(func() {
		if begin != nil {
			begin()
		}
		go func() {
			err := finish()
			o.mu.Lock()
			o.err = err
			o.mu.Unlock()
			close(done)
		}()
	})
	if err := Wait(ctx, done); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// Done is closed once finish has returned.
func (o *Once) Done() <-chan struct{} { return o.doneChan() }

func (o *Once) doneChan() chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done == nil {
		o.done = make(chan struct{})
	}
	return o.done
}

// Wait waits until done is closed (nil) or ctx ends (ctx.Err()), preferring
// done when both are ready.
func Wait(ctx context.Context, done <-chan struct{}) error {
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
