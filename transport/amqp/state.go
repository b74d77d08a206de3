package amqp

import (
	"fmt"
	"time"

	"github.com/novaevents/nova/internal/callback"
)

// State is the state of one pooled connection, or of the whole Client.
type State uint8

const (
	// StateConnecting: the first connection attempt is under way.
	StateConnecting State = iota
	// StateConnected: connected and topology declared.
	StateConnected
	// StateReconnecting: the connection was lost; attempts to reconnect are
	// under way with backoff. Publishes wait, consumers are paused.
	StateReconnecting
	// StateClosed: closed by Close; nothing will reconnect.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// StateChange reports one pooled connection moving between states.
type StateChange struct {
	Connection int   // index of the connection in the pool, from 0
	From, To   State //
	Err        error // why the connection was lost or an attempt failed, if known
	// URL is the broker (password hidden) the connection is connected to,
	// was connected to when lost, or tried last when an attempt failed.
	URL string
	At  time.Time
}

// notifier runs the user's callback on its own goroutine behind a bounded
// queue, so the library never waits for it: Nova's one bounded callback
// runner (internal/callback).
type notifier struct {
	r       *callback.Runner[StateChange] // nil without a callback
	dropped dropCount
	done    <-chan struct{} // after stop: closed when the callback has returned for the last change
}

// dropCount reads the changes the runner refused (queue full).
type dropCount struct{ r *callback.Runner[StateChange] }

func (d dropCount) Load() uint64 {
	if d.r == nil {
		return 0
	}
	return d.r.Overflow() + d.r.Skipped()
}

var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func newNotifier(fn func(StateChange), size int) *notifier {
	n := &notifier{done: closedDone}
	if fn != nil {
		// A panicking callback must not stop reports: the runner recovers.
		n.r = callback.New(size, fn, nil)
		n.dropped = dropCount{n.r}
	}
	return n
}

// notify never blocks: when the queue is full the change is counted and
// dropped. It must not be called after stop.
func (n *notifier) notify(sc StateChange) {
	if n.r != nil {
		n.r.Send(sc)
	}
}

// stop lets the queued changes be delivered; done closes when the callback
// has returned for the last one.
func (n *notifier) stop() {
	if n.r == nil {
		return
	}
	if run, ok := n.r.Stop(); ok {
		n.done = run.Done()
	}
}
