package emitter

import (
	"context"
	"fmt"

	"github.com/novaevents/nova/shared"
)

// Async retries of listeners managed by Config.Listeners. The manager waits
// out the backoff on its delay goroutine and hands the attempt back through
// pushRetry; a drainer then makes the attempt, taking retries before new
// events. retrying counts attempts scheduled and not yet finished, so that
// Shutdown waits for them.

type retryItem struct {
	ctx context.Context
	ev  shared.Event
	en  *entry
	n   int // the attempt to make
}

// scheduleRetry asks the manager for attempt n+1 after attempt n failed with
// err. It reports false when the manager gave up (and dead-lettered ev).
func (e *Emitter) scheduleRetry(ctx context.Context, en *entry, ev shared.Event, n int, err error) bool {
	e.retrying.Add(1)
	ok := e.cfg.Listeners.Retry(en.handler, ev, n, err, func(next int) {
		if next <= 0 { // abandoned by a stopping manager, already dead-lettered
			e.retryDone()
			return
		}
		e.pushRetry(retryItem{ctx: ctx, ev: ev, en: en, n: next})
	})
	if !ok {
		e.retrying.Add(-1)
	}
	return ok
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

func (e *Emitter) handleRetry(r retryItem) {
	lm := e.cfg.Listeners
	if r.en.sub.Active() {
		if err := lm.Attempt(r.ctx, r.en.handler, r.ev); err != nil && !e.scheduleRetry(r.ctx, r.en, r.ev, r.n, err) { // after Unregister: called plainly, once
			werr := e.listenerFailed(r.en, r.ev, fmt.Errorf("emitter: gave up after retries: %w", err))
			e.st.failed.Add(1)
			e.reportAsync(r.ev, werr)
		}
	}
	e.retryDone()
}

func (e *Emitter) retryDone() {
	if e.retrying.Add(-1) == 0 {
		e.checkIdle()
	}
}
