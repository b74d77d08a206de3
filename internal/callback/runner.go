package callback

import (
	"sync"
	"sync/atomic"
)

// Runner calls fn with the values sent to it, one at a time, on a
// goroutine it owns while values are queued, behind a queue of size values. It is safe for
// concurrent use; Send never blocks and costs a lock and a channel send.
type Runner[T any] struct {
	size    int
	fn      func(T)
	onPanic func(any)

	mu      sync.Mutex
	ch      chan T // nil when no goroutine is running
	run     Run    // of the running goroutine
	stopped bool   // refuses sends

	overflow atomic.Uint64 // sends refused because the queue was full
	skipped  atomic.Uint64 // values never passed to fn: sent while stopped, or given up
	panics   atomic.Uint64
}

// Run lets an owner wait for one Runner goroutine, or give up on what is
// left in its queue.
type Run struct {
	done    chan struct{}
	abandon *atomic.Bool
}

// Done is closed when the goroutine has ended.
func (h Run) Done() <-chan struct{} { return h.done }

// GiveUp makes the goroutine skip (and count) what is left in its queue
// after the call it is making.
func (h Run) GiveUp() { h.abandon.Store(true) }

// Result is what Send did with a value.
type Result int

const (
	// Sent: the value is queued for fn.
	Sent Result = iota
	// Full: the queue was full; the value was dropped and counted.
	Full
	// Stopped: the Runner is stopped; the value was dropped and counted.
	Stopped
)

// New returns a Runner that calls fn behind a queue of size (at least 1)
// values; onPanic, if set, receives what fn panicked with.
func New[T any](size int, fn func(T), onPanic func(any)) *Runner[T] {
	return &Runner[T]{size: max(size, 1), fn: fn, onPanic: onPanic}
}

// Send queues v for fn, starting the goroutine if none is running.
func (r *Runner[T]) Send(v T) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		r.skipped.Add(1)
		return Stopped
	}
	if r.ch == nil {
		r.ch = make(chan T, r.size)
		r.run = Run{done: make(chan struct{}), abandon: new(atomic.Bool)}
		go r.loop(r.ch, r.run)
	}
	select {
	case r.ch <- v:
		return Sent
	default:
		r.overflow.Add(1)
		return Full
	}
}

// loop calls fn for what arrives on ch. It ends when ch is closed and
// drained (Stop), or as soon as the queue is empty, so that an idle Runner
// holds no goroutine: the next Send starts another.
func (r *Runner[T]) loop(ch chan T, h Run) {
	defer close(h.done)
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return
			}
			if h.abandon.Load() {
				r.skipped.Add(1)
				continue
			}
			r.call(v)
		default:
			r.mu.Lock()
			if r.ch == ch && len(ch) == 0 {
				r.ch, r.run = nil, Run{}
				r.mu.Unlock()
				return
			}
			r.mu.Unlock()
		}
	}
}

func (r *Runner[T]) call(v T) {
	defer func() {
		if p := recover(); p != nil {
			r.panics.Add(1)
			if r.onPanic != nil {
				r.onPanic(p)
			}
		}
	}()
	r.fn(v)
}

// Stop refuses further sends and lets the goroutine drain its queue. It
// returns the goroutine's Run, and false if none was running.
func (r *Runner[T]) Stop() (Run, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.ch == nil {
		return Run{}, false
	}
	close(r.ch)
	h := r.run
	r.ch, r.run = nil, Run{}
	return h, true
}

// Restart accepts sends again after Stop.
func (r *Runner[T]) Restart() {
	r.mu.Lock()
	r.stopped = false
	r.mu.Unlock()
}

// Queued returns the number of values waiting.
func (r *Runner[T]) Queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ch)
}

// Overflow returns the values refused because the queue was full.
func (r *Runner[T]) Overflow() uint64 { return r.overflow.Load() }

// Skipped returns the values never passed to fn: sent while stopped, or
// left in the queue after GiveUp.
func (r *Runner[T]) Skipped() uint64 { return r.skipped.Load() }

// Panics returns the calls of fn that panicked.
func (r *Runner[T]) Panics() uint64 { return r.panics.Load() }
