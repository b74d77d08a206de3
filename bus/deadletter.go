package bus

import (
	"context"
	"sync"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// deadLetters calls the topics' dead-letter handlers on one goroutine the
// bus owns, so that a slow handler never holds up a pool worker. Each topic
// may have at most its DeadLetter.QueueSize calls waiting; beyond that the
// call is skipped and counted as DropDeadLetterOverflow.
type deadLetters struct {
	b       *Bus
	mu      sync.Mutex
	queue   []deadLetter
	stopped bool
	wake    chan struct{} // cap 1
	stop    chan struct{}
	done    chan struct{}
}

type deadLetter struct {
	t       *topic
	handler func(shared.Event, error)
	e       shared.Event
	err     error
}

func newDeadLetters(b *Bus) *deadLetters {
	d := &deadLetters{b: b, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *deadLetters) push(t *topic, cfg listener.DeadLetterConfig, e shared.Event, err error) {
	limit := int64(cfg.QueueSize)
	if limit <= 0 {
		limit = listener.DefaultDeadLetterQueueSize
	}
	if t.dlQueued.Add(1) > limit {
		t.dlQueued.Add(-1)
		d.b.drop(DropDeadLetterOverflow, 1)
		return
	}
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		t.dlQueued.Add(-1)
		d.b.drop(DropDeadLetterOverflow, 1)
		return
	}
	d.queue = append(d.queue, deadLetter{t: t, handler: cfg.Handler, e: e, err: err})
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *deadLetters) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			stopped := d.stopped
			d.mu.Unlock()
			if stopped {
				return
			}
			select {
			case <-d.wake:
			case <-d.stop:
			}
			continue
		}
		dl := d.queue[0]
		d.queue[0] = deadLetter{}
		d.queue = d.queue[1:]
		if len(d.queue) == 0 {
			d.queue = nil // let the backing array go
		}
		d.mu.Unlock()
		dl.t.dlQueued.Add(-1)
		d.call(dl)
	}
}

func (d *deadLetters) call(dl deadLetter) {
	defer func() {
		if r := recover(); r != nil && d.b.cfg.Logger != nil {
			d.b.cfg.Logger.Error("bus: dead-letter handler panicked", "topic", dl.t.name,
				"event_id", dl.e.ID(), "panic", shared.NewPanicError(r))
		}
	}()
	dl.handler(dl.e, dl.err)
}

// shutdown makes the goroutine call what is queued and stop, and waits for
// that. If ctx ends first it returns ctx.Err(); the goroutine still
// finishes the queue, and Bus.Shutdown called again waits for it.
func (d *deadLetters) shutdown(ctx context.Context) error {
	d.mu.Lock()
	if !d.stopped {
		d.stopped = true
		close(d.stop)
	}
	d.mu.Unlock()
	return waitDone(ctx, d.done)
}
