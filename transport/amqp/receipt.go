package amqp

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Receipt is the future result of one asynchronous publish. It resolves
// once: with nil when the broker confirmed the message, or with a
// *PublishError when it was not confirmed (nacked or returned after all
// retries, not confirmed within PublishTimeout, or the publisher closed).
// A receipt never reports a message confirmed that the broker did not
// confirm.
//
// Receipts of one Publisher resolve in publish order: when a receipt is
// done, every receipt from an earlier PublishAsync call is done too. A
// receipt is safe for concurrent use.
type Receipt struct {
	done chan struct{}

	exchange, key, messageID string

	// Set by the resolver under its lock.
	seq      uint64
	start    time.Time
	deadline time.Time
	next     *Receipt

	state    atomic.Uint32
	attempts atomic.Int32
	cause    atomic.Pointer[error] // last failure, for the final error

	err    error
	result PublishResult
}

// PublishResult describes a confirmed publish.
type PublishResult struct {
	Attempts int           // tries the broker answered, 1 when the first try was confirmed
	Latency  time.Duration // from the PublishAsync call to the confirm
}

const (
	receiptPending uint32 = iota
	receiptSettling
	receiptSettled
)

// Done returns a channel closed when the receipt resolves.
func (r *Receipt) Done() <-chan struct{} { return r.done }

// Wait blocks until the receipt resolves and returns its error, or returns
// ctx.Err() if ctx is done first (the publish carries on).
func (r *Receipt) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.err
	default:
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Err returns nil until the receipt resolves, then its error, the way
// context.Context.Err does.
func (r *Receipt) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// Result returns the outcome of a resolved receipt, or ErrNotDone.
func (r *Receipt) Result() (PublishResult, error) {
	select {
	case <-r.done:
		return r.result, r.err
	default:
		return PublishResult{}, ErrNotDone
	}
}

func (r *Receipt) settled() bool { return r.state.Load() != receiptPending }

func (r *Receipt) setCause(err error) { r.cause.Store(&err) }

func (r *Receipt) lastCause() error {
	if p := r.cause.Load(); p != nil {
		return *p
	}
	return nil
}

// failure builds the final error of a receipt.
func (r *Receipt) failure(err error) *PublishError {
	cause := r.lastCause()
	if cause == err {
		cause = nil
	}
	return &PublishError{
		Exchange:   r.exchange,
		RoutingKey: r.key,
		MessageID:  r.messageID,
		Attempts:   int(r.attempts.Load()),
		Err:        err,
		Cause:      cause,
	}
}

// resolver keeps unresolved receipts in publish order and closes their Done
// channels in that order. Because every receipt's deadline is its start plus
// the same timeout, the oldest receipt is also the first to expire, so one
// goroutine watching the head enforces every deadline.
type resolver struct {
	mu         sync.Mutex
	head, tail *Receipt
	seq        uint64
	pending    int
	timeout    time.Duration
	wake       chan struct{}
	onSettle   func(r *Receipt, err error)
}

func newResolver(timeout time.Duration, onSettle func(*Receipt, error)) *resolver {
	return &resolver{timeout: timeout, wake: make(chan struct{}, 1), onSettle: onSettle}
}

// add starts r's clock and appends it.
func (rs *resolver) add(r *Receipt) {
	rs.mu.Lock()
	rs.seq++
	r.seq = rs.seq
	r.start = time.Now()
	r.deadline = r.start.Add(rs.timeout)
	wasEmpty := rs.head == nil
	if wasEmpty {
		rs.head = r
	} else {
		rs.tail.next = r
	}
	rs.tail = r
	rs.pending++
	rs.mu.Unlock()
	if wasEmpty {
		select {
		case rs.wake <- struct{}{}:
		default:
		}
	}
}

// settle resolves r with err (nil: confirmed) unless it already is, and
// releases every settled receipt at the head of the line. It reports
// whether this call settled r.
func (rs *resolver) settle(r *Receipt, res PublishResult, err error) bool {
	if !r.state.CompareAndSwap(receiptPending, receiptSettling) {
		return false
	}
	if err == nil {
		res.Latency = time.Since(r.start)
		r.result = res
	} else {
		r.err = err
	}
	r.state.Store(receiptSettled)
	if rs.onSettle != nil {
		rs.onSettle(r, err)
	}
	rs.mu.Lock()
	for h := rs.head; h != nil && h.state.Load() == receiptSettled; h = rs.head {
		rs.head = h.next
		h.next = nil
		rs.pending--
		close(h.done)
	}
	if rs.head == nil {
		rs.tail = nil
	}
	rs.mu.Unlock()
	return true
}

// reap fails the oldest receipt when its deadline passes, until stop closes.
func (rs *resolver) reap(stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		rs.mu.Lock()
		h := rs.head
		var deadline time.Time
		if h != nil {
			deadline = h.deadline
		}
		rs.mu.Unlock()
		if h == nil {
			select {
			case <-rs.wake:
				continue
			case <-stop:
				return
			}
		}
		if d := time.Until(deadline); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-stop:
				return
			}
			continue
		}
		if !rs.settle(h, PublishResult{}, h.failure(ErrPublishTimeout)) {
			// Being settled by a worker right now: let it finish.
			select {
			case <-h.done:
			case <-stop:
				return
			}
		}
	}
}

// settleAll fails every unresolved receipt with err.
//
// It returns once every receipt's Done is closed, not just settled: a
// receipt another goroutine is settling right now (a worker told to stop)
// is settled before that goroutine closes the Done channels, and a caller of
// Close must find them closed. No receipt may be added meanwhile.
func (rs *resolver) settleAll(err error) {
	for {
		rs.mu.Lock()
		var open []*Receipt
		for r := rs.head; r != nil; r = r.next {
			if !r.settled() {
				open = append(open, r)
			}
		}
		empty := rs.head == nil
		rs.mu.Unlock()
		if empty {
			return
		}
		if len(open) == 0 {
			runtime.Gosched() // their settler is about to close the Done channels
			continue
		}
		for _, r := range open {
			rs.settle(r, PublishResult{}, r.failure(err))
		}
	}
}

func (rs *resolver) len() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.pending
}
