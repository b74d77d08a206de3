package amqp

import (
	"fmt"
	"sync/atomic"
	"time"
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
// queue, so the library never waits for it.
type notifier struct {
	fn      func(StateChange)
	queue   chan StateChange
	dropped atomic.Uint64
	done    chan struct{}
}

func newNotifier(fn func(StateChange), size int) *notifier {
	n := &notifier{fn: fn, done: make(chan struct{})}
	if fn == nil {
		close(n.done)
		return n
	}
	n.queue = make(chan StateChange, size)
	go n.run()
	return n
}

func (n *notifier) run() {
	defer close(n.done)
	for sc := range n.queue {
		n.call(sc)
	}
}

func (n *notifier) call(sc StateChange) {
	defer func() { _ = recover() }() // a panicking callback must not stop reports
	n.fn(sc)
}

// notify never blocks: when the queue is full the change is counted and
// dropped. It must not be called after stop.
func (n *notifier) notify(sc StateChange) {
	if n.fn == nil {
		return
	}
	select {
	case n.queue <- sc:
	default:
		n.dropped.Add(1)
	}
}

// stop lets the queued changes be delivered; done closes when the callback
// has returned for the last one.
func (n *notifier) stop() {
	if n.fn != nil {
		close(n.queue)
	}
}
