package bus

import (
	"context"
	"errors"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// process makes one attempt of j and decides what follows: settle, retry
// later, or give up. It reports whether j is finished, to be settled by the
// caller.
func (ln *lane) process(j job) (finished bool) {
	t := ln.t
	cfg := &t.cfg
	if j.attempts == 0 && cfg.Retention > 0 && !j.m.Accepted.IsZero() && time.Since(j.m.Accepted) > cfg.Retention {
		ln.cnt.expired.Add(1)
		ln.giveUp(j, nil, ErrExpired, false)
		return true
	}
	sp := ln.c.pick()
	if sp == nil {
		// The last member left while this message was on its way: the lane
		// is being closed, and its close counts what it held. This one was
		// already out of its lists, so count it here.
		ln.b.drop(DropUnsubscribed, 1)
		return false
	}
	if cfg.DeliveryMode == ExactlyOnce && !j.claimed {
		fresh, err := t.store.Claim(ln.b.runCtx, ln.c.scope, j.m.Event.ID())
		switch {
		case err != nil:
			ln.b.logError("idempotency store claim failed", err, t.name, j.m.Event)
			return ln.failed(j, sp, err, true)
		case !fresh:
			ln.cnt.duplicates.Add(1)
			return true
		}
		j.claimed = true
	}
	if !j.delivered {
		j.delivered = true
		ln.cnt.delivered.Add(1)
	}
	j.attempts++
	err := ln.b.attempt(ln, sp, j.m.Event)
	if err == nil {
		ln.cnt.processed.Add(1)
		if j.claimed {
			if err := t.store.Complete(ln.b.runCtx, ln.c.scope, j.m.Event.ID()); err != nil {
				ln.b.logError("idempotency store complete failed", err, t.name, j.m.Event)
			}
		}
		return true
	}
	return ln.failed(j, sp, err, false)
}

// failed handles a failed attempt (or a failed idempotency claim, which
// counts as one): retry if the mode and the policy allow, else give up. It
// reports whether j is finished.
func (ln *lane) failed(j job, sp *spec, err error, claimFailed bool) bool {
	ln.cnt.failed.Add(1)
	if claimFailed {
		j.attempts++
	}
	if ln.t.cfg.DeliveryMode != AtMostOnce {
		if lm := ln.b.cfg.Listeners; sp != nil && sp.bind != nil && sp.bind.Registered() {
			// The manager decides, circuit breaker included. An attempt its
			// open breaker refused never reached the handler: it does not
			// use up an attempt.
			if errors.Is(err, listener.ErrCircuitOpen) && !claimFailed {
				j.attempts--
			}
			if d, retry := lm.Next(sp.listener, max(j.attempts, 1), err); retry {
				ln.cnt.retried.Add(1)
				if ln.b.metrics != nil {
					ln.b.metrics.EventRetried(ln.b.name, sp.listener.ID())
				}
				ln.retryLater(j, d)
				return false
			}
			cfg, _ := lm.Lookup(sp.listener.ID())
			ln.giveUp(j, sp, err, cfg.RetryPolicy.Retryable(err))
			return true
		}
		policy, _ := ln.c.policies(sp)
		if d, retry := policy.Next(j.attempts, err); retry {
			ln.cnt.retried.Add(1)
			if ln.b.metrics != nil {
				ln.b.metrics.EventRetried(ln.b.name, sp.listener.ID())
			}
			ln.retryLater(j, d)
			return false
		}
		ln.giveUp(j, sp, err, policy.Retryable(err))
		return true
	}
	ln.giveUp(j, sp, err, false)
	return true
}

// giveUp dead-letters j (counted always; the topic's handler called if it
// has one); the caller settles it. sp is nil for an event that expired unattempted;
// exhausted says the retry policy ran out.
func (ln *lane) giveUp(j job, sp *spec, err error, exhausted bool) {
	ln.cnt.deadLettered.Add(1)
	id := ""
	if sp != nil {
		id = sp.listener.ID()
	}
	if ln.b.metrics != nil {
		ln.b.metrics.EventDeadLettered(ln.b.name, id)
	}
	derr := &DeadLetterError{
		Topic: ln.t.name, ListenerID: id, Group: ln.c.group,
		Attempts: j.attempts, Exhausted: exhausted, Err: err,
	}
	if lm := ln.b.cfg.Listeners; sp != nil && sp.bind != nil && sp.bind.Registered() {
		// A registered listener's dead letters go to its manager: its
		// bounded store (listed, inspected, redriven) and its handler.
		lm.DeadLetter(sp.listener, j.m.Event, derr)
	} else if _, dl := ln.c.policies(sp); dl.Enabled && dl.Handler != nil {
		ln.b.dead.push(ln.t, dl, j.m.Event, derr)
	}
	if j.claimed {
		// Forget the claim, so that the event published again is handled.
		if err := ln.t.store.Release(ln.b.runCtx, ln.c.scope, j.m.Event.ID()); err != nil {
			ln.b.logError("idempotency store release failed", err, ln.t.name, j.m.Event)
		}
	}
}

// policies returns the retry and dead-letter policy of the topic, which
// govern the subscribers whose listener is not registered with
// Config.Listeners. A registered listener's are applied by failed and
// giveUp through the manager (Next, Lookup, DeadLetter) instead.
func (c *consumer) policies(_ *spec) (listener.RetryPolicy, listener.DeadLetterConfig) {
	return c.t.cfg.RetryPolicy, c.t.cfg.DeadLetter
}

// attempt runs one attempt of sp's listener on e and reports it to the
// metrics hook. See call for what the error can be.
func (b *Bus) attempt(ln *lane, sp *spec, e shared.Event) error {
	var start time.Time
	if b.metrics != nil {
		start = time.Now()
	}
	err := b.call(sp, ln.t.cfg.HandlerTimeout, e)
	if b.metrics != nil {
		b.metrics.EventHandled(b.name, sp.listener.ID(), e.Type(), time.Since(start), err)
	}
	return err
}

// call is the single place a listener is called: through the listener
// manager when it is registered there (its concurrency limit, breaker,
// timeout, health and stats apply to the attempt), else directly. A panic
// becomes a *shared.PanicError either way. Publish (or, for another broker,
// the lane) validated e, as the Binding expects.
//
// timeout is the topic's HandlerTimeout (0 for none). It is applied inside
// the attempt, below the manager: the manager is called with the bus's run
// context and sees an overrun as the attempt's own failure, a
// *shared.TimeoutError that its breaker and health count, not as its
// caller giving up.
func (b *Bus) call(sp *spec, timeout time.Duration, e shared.Event) error {
	if sp.bind != nil {
		l := sp.listener
		if timeout > 0 {
			l = &timedListener{Listener: sp.listener, limit: timeout}
		}
		if managed, err := sp.bind.Attempt(b.runCtx, l, e); managed {
			return err
		}
	}
	if timeout > 0 {
		return handleWithin(b.runCtx, timeout, sp.listener, e)
	}
	return shared.SafeHandle(b.runCtx, sp.listener, e)
}

// handleWithin calls l with a context that ends after limit. An attempt
// that fails once its deadline has passed fails with a *shared.TimeoutError
// (unless ctx itself ended: then the handler's error is returned as it is).
// An attempt that returns nil succeeded, even if it returned late: its work
// is done, and running it again would repeat it (for ExactlyOnce, handle
// the ID twice).
func handleWithin(ctx context.Context, limit time.Duration, l shared.Listener, e shared.Event) error {
	tctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	err := shared.SafeHandle(tctx, l, e)
	if err != nil && tctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		return &shared.TimeoutError{ListenerID: l.ID(), Limit: limit}
	}
	return err
}

// timedListener applies a topic's HandlerTimeout to a listener called
// through the listener manager. It has the wrapped listener's ID, which the
// manager uses to find its registration.
type timedListener struct {
	shared.Listener
	limit time.Duration
}

func (t *timedListener) Handle(ctx context.Context, e shared.Event) error {
	return handleWithin(ctx, t.limit, t.Listener, e)
}

func (b *Bus) logError(msg string, err error, topic string, e shared.Event) {
	if b.cfg.Logger != nil {
		b.cfg.Logger.Error("bus: "+msg, "topic", topic, "event_id", e.ID(), "error", err)
	}
}
