package listener

import (
	"sync"
	"sync/atomic"
)

// dispatcher calls fn with the values sent to it, one at a time, on a
// goroutine it owns, behind a queue of size values. send never blocks. The
// goroutine is started on the first send and ended by stop, after it has
// drained its queue; a send after restart starts a new one.
type dispatcher[T any] struct {
	size    int
	fn      func(T)
	onPanic func(any)

	mu      sync.Mutex
	ch      chan T    // nil when no goroutine is running
	run     runHandle // of the running goroutine
	stopped bool      // refuses sends: the manager is stopping or stopped

	overflow atomic.Uint64 // sends refused because the queue was full
	skipped  atomic.Uint64 // values never passed to fn: sent while stopped, or given up by Stop
	panics   atomic.Uint64
}

// runHandle lets Stop wait for one dispatcher goroutine, or give up on what
// is left in its queue.
type runHandle struct {
	done    chan struct{}
	abandon *atomic.Bool
}

// giveUp makes the goroutine skip (and count) what is left in its queue
// after the call it is making.
func (h runHandle) giveUp() { h.abandon.Store(true) }

type sendResult int

const (
	sent sendResult = iota
	queueFull
	notRunning
)

func newDispatcher[T any](size int, fn func(T), onPanic func(any)) *dispatcher[T] {
	return &dispatcher[T]{size: size, fn: fn, onPanic: onPanic}
}

func (d *dispatcher[T]) send(v T) sendResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		d.skipped.Add(1)
		return notRunning
	}
	if d.ch == nil {
		d.ch = make(chan T, d.size)
		d.run = runHandle{done: make(chan struct{}), abandon: new(atomic.Bool)}
		go d.loop(d.ch, d.run)
	}
	select {
	case d.ch <- v:
		return sent
	default:
		d.overflow.Add(1)
		return queueFull
	}
}

func (d *dispatcher[T]) loop(ch chan T, h runHandle) {
	defer close(h.done)
	for v := range ch {
		if h.abandon.Load() {
			d.skipped.Add(1)
			continue
		}
		d.call(v)
	}
}

func (d *dispatcher[T]) call(v T) {
	defer func() {
		if r := recover(); r != nil {
			d.panics.Add(1)
			if d.onPanic != nil {
				d.onPanic(r)
			}
		}
	}()
	d.fn(v)
}

// stop refuses further sends and lets the goroutine drain its queue. It
// returns the goroutine's handle, and false if none was running.
func (d *dispatcher[T]) stop() (runHandle, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.ch == nil {
		return runHandle{}, false
	}
	close(d.ch)
	h := d.run
	d.ch, d.run = nil, runHandle{}
	return h, true
}

// restart accepts sends again after stop.
func (d *dispatcher[T]) restart() {
	d.mu.Lock()
	d.stopped = false
	d.mu.Unlock()
}

// queued returns the number of values waiting.
func (d *dispatcher[T]) queued() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.ch)
}
