package bus

import (
	"context"
	"sync"

	"github.com/novaevents/nova/workerpool"
)

// submit hands a lane's drainer to the pool without blocking. When the
// pool's queue is full (or the pool refuses for another reason), the lane
// goes to the rescuer, which waits for room: a wake-up is never lost and no
// goroutine is started for it.
func (b *Bus) submit(ln *lane, pr workerpool.Priority) {
	if b.pool.TrySubmitKeep(pr, ln.drainFn) == nil { // never evicted: see workerpool.TrySubmitKeep
		return
	}
	b.rescue.push(ln, pr)
}

// rescuer is one goroutine that submits, blocking, the drainers the pool
// refused at once. Each lane has at most MaxConcurrency drainers, so the
// queue is bounded by the lanes. If the pool is closed (its owner closed it
// before the bus's Shutdown) the rescuer runs the drainer itself, so that
// accepted events are still delivered: handlers then run on this goroutine.
type rescuer struct {
	b       *Bus
	mu      sync.Mutex
	queue   []rescue
	stopped bool
	wake    chan struct{} // cap 1
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

type rescue struct {
	ln *lane
	pr workerpool.Priority
}

func newRescuer(b *Bus) *rescuer {
	r := &rescuer{b: b, wake: make(chan struct{}, 1), done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r
}

func (r *rescuer) push(ln *lane, pr workerpool.Priority) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		// Only after Shutdown has settled everything: nothing is left to
		// run, so give the drainer's slot back.
		ln.release()
		return
	}
	r.queue = append(r.queue, rescue{ln, pr})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *rescuer) run() {
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
			case <-r.ctx.Done():
			}
			continue
		}
		it := r.queue[0]
		r.queue[0] = rescue{}
		r.queue = r.queue[1:]
		r.mu.Unlock()
		if err := r.b.pool.SubmitKeep(r.ctx, it.pr, it.ln.drainFn); err != nil {
			it.ln.drain()
		}
	}
}

// shutdown makes the goroutine run what is queued (itself, without waiting
// for the pool) and stop, and waits for that until ctx ends. When the pool
// was closed first, the goroutine may be running a handler: it stops once
// that returns, even after ctx has ended.
func (r *rescuer) shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.cancel()
	return waitDone(ctx, r.done)
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
