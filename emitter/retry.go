package emitter

import (
	"context"

	"github.com/novaevents/nova/internal/delay"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// Async retries. The emitter waits out a verdict's delay on its delay
// queue (one goroutine, started on the first retry) and hands the attempt
// back through pushRetry; a drainer then makes it, taking retries before
// new events, so no pool worker waits out a backoff. retrying counts
// retries scheduled and not yet finished, so that Shutdown waits for them.

type retryItem struct {
	ctx context.Context
	ev  shared.Event
	en  *entry
	n   int // the attempt to make
}

// scheduleRetry arranges for attempt v.Next() of en on ev after v.Delay().
func (e *Emitter) scheduleRetry(ctx context.Context, en *entry, ev shared.Event, v listener.Verdict) {
	e.retrying.Add(1)
	r := retryItem{ctx: ctx, ev: ev, en: en, n: v.Next()}
	e.retryMu.Lock()
	if e.delay == nil {
		e.delay = delay.New()
	}
	q := e.delay
	e.retryMu.Unlock()
	if !q.Schedule(v.Delay(), func() { e.pushRetry(r) }) {
		e.pushRetry(r) // the queue is closed only once nothing is retrying
	}
}

func (e *Emitter) pushRetry(r retryItem) {
	e.retryMu.Lock()
	e.retryQ = append(e.retryQ, r)
	e.retryLen.Add(1)
	e.retryMu.Unlock()
	lane, err := e.buf.laneOf(r.ev)
	if err != nil {
		e.st.hookPanics.Add(1) // a panicking Priority: the normal lane
	}
	e.kick(lane)
}

func (e *Emitter) popRetry() (retryItem, bool) {
	e.retryMu.Lock()
	defer e.retryMu.Unlock()
	if len(e.retryQ) == 0 {
		return retryItem{}, false
	}
	r := e.retryQ[0]
	e.retryQ[0] = retryItem{}
	e.retryQ = e.retryQ[1:]
	if len(e.retryQ) == 0 {
		e.retryQ = nil // let the backing array go
	}
	e.retryLen.Add(-1)
	return r, true
}

// handleRetry makes a retry's attempt (unless the subscription is gone) and
// follows its verdict.
func (e *Emitter) handleRetry(r retryItem) {
	if r.en.sub.Active() {
		v := r.en.rt.Attempt(r.ctx, r.ev, r.n)
		switch {
		case v.Err == nil:
		case v.Retry():
			e.scheduleRetry(r.ctx, r.en, r.ev, v)
		default:
			e.st.failed.Add(1)
			e.reportAsync(r.ev, e.giveUp(r.en, r.ev, v))
		}
	}
	e.retryDone()
}

func (e *Emitter) retryDone() {
	if e.retrying.Add(-1) == 0 {
		e.checkIdle()
	}
}

// closeRetries ends the delay queue's goroutine once nothing is retrying.
func (e *Emitter) closeRetries() {
	e.retryMu.Lock()
	q := e.delay
	e.retryMu.Unlock()
	if q != nil {
		for _, fn := range q.Close() {
			fn() // none: Shutdown waits for every retry first
		}
	}
}
