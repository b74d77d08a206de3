package drain

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/novaevents/nova/workerpool"
)

// Slots counts the drainers of one owner, at most Max at once. The zero
// value has no room; set Max first. It is safe for concurrent use and sits
// on cache lines of its own, since producers and drainers all touch it.
type Slots struct {
	_   [64]byte
	n   atomic.Int32
	Max int32
	_   [56]byte
}

// TryAcquire takes a slot if fewer than Max are taken.
func (s *Slots) TryAcquire() bool {
	for {
		n := s.n.Load()
		if n >= s.Max {
			return false
		}
		if s.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release gives a slot back and returns the slots still taken.
func (s *Slots) Release() int32 { return s.n.Add(-1) }

// Taken returns the slots taken now.
func (s *Slots) Taken() int32 { return s.n.Load() }

// Rescuer submits drainer tasks to a pool without blocking the caller (see
// the package doc). It owns one goroutine, started by NewRescuer and ended
// by Shutdown. It is safe for concurrent use.
type Rescuer struct {
	pool    *workerpool.Pool
	mu      sync.Mutex
	queue   []task
	stopped bool
	wake    chan struct{} // cap 1
	stop    chan struct{} // closed by Shutdown
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

type task struct {
	pr workerpool.Priority
	fn func()
}

// NewRescuer returns a Rescuer for pool, its goroutine running.
func NewRescuer(pool *workerpool.Pool) *Rescuer {
	r := &Rescuer{pool: pool, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r
}

// Submit hands fn to the pool in the lane of pr: at once if the pool's
// queue has room, else through the Rescuer's goroutine. It never blocks.
// It returns false, without keeping fn, only after Shutdown: the caller
// then gives its slot back.
func (r *Rescuer) Submit(pr workerpool.Priority, fn func()) bool {
	if r.pool.TrySubmitKeep(pr, fn) == nil { // never evicted: see workerpool.TrySubmitKeep
		return true
	}
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return false
	}
	r.queue = append(r.queue, task{pr, fn})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return true
}

func (r *Rescuer) run() {
	defer close(r.done)
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			stopped := r.stopped
			r.mu.Unlock()
			if stopped {
				return
			}
			select {
			case <-r.wake:
			case <-r.stop:
			}
			continue
		}
		it := r.queue[0]
		r.queue[0] = task{}
		r.queue = r.queue[1:]
		if len(r.queue) == 0 {
			r.queue = nil // let the backing array go
		}
		r.mu.Unlock()
		if err := r.pool.SubmitKeep(r.ctx, it.pr, it.fn); err != nil {
			// The pool is closed, or the owner is shutting down: run the
			// drainer here, so that accepted work is still done.
			it.fn()
		}
	}
}

// Hurry makes the goroutine stop waiting for room in the pool: what is
// queued, and what comes later, it runs itself. An owner calls it when its
// shutdown begins.
func (r *Rescuer) Hurry() { r.cancel() }

// Shutdown makes the goroutine run what is queued (itself, without waiting
// for the pool) and stop, and waits for that until ctx ends (then it
// returns ctx.Err(); a later call waits again). Submit returns false from
// then on. A drainer the goroutine is running may run handlers: it stops
// once they return, even after ctx has ended.
func (r *Rescuer) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.stopped {
		r.stopped = true
		close(r.stop)
	}
	r.mu.Unlock()
	r.cancel()
	select {
	case <-r.done:
		return nil
	default:
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed once the goroutine has ended.
func (r *Rescuer) Done() <-chan struct{} { return r.done }
