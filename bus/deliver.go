package bus

import (
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// process makes one attempt of j and does what the listener manager's
// verdict says: settle, retry later, or give up. It reports whether j is
// finished, to be settled by the caller.
func (ln *lane) process(j job) (finished bool) {
	t := ln.t
	cfg := &t.cfg
	mb := ln.c.pick()
	if mb == nil {
		// The last member left while this message was on its way: the lane
		// is being closed, and its close counts what it held. This one was
		// already out of its lists, so count it here.
		ln.b.drop(DropUnsubscribed, 1)
		return false
	}
	if j.attempts == 0 && cfg.Retention > 0 && !j.m.Accepted.IsZero() && time.Since(j.m.Accepted) > cfg.Retention {
		ln.cnt.expired.Add(1)
		ln.deadLetter(j, mb, "", 0, false, ErrExpired)
		return true
	}
	if cfg.DeliveryMode == ExactlyOnce && !j.claimed {
		fresh, err := t.store.Claim(ln.b.runCtx, ln.c.scope, j.m.Event.ID())
		switch {
		case err != nil:
			// A failed claim counts as a failed attempt.
			ln.b.logError("idempotency store claim failed", err, t.name, j.m.Event)
			j.attempts++
			ln.cnt.failed.Add(1)
			return ln.follow(j, mb, mb.rt.Decide(j.m.Event, j.attempts, err))
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
	v := mb.rt.Attempt(ln.b.runCtx, j.m.Event, j.attempts)
	if v.Err == nil {
		ln.cnt.processed.Add(1)
		if j.claimed {
			if err := t.store.Complete(ln.b.runCtx, ln.c.scope, j.m.Event.ID()); err != nil {
				ln.b.logError("idempotency store complete failed", err, t.name, j.m.Event)
			}
		}
		return true
	}
	ln.cnt.failed.Add(1)
	return ln.follow(j, mb, v)
}

// follow does what the verdict v on j's failed attempt says (on an
// AtMostOnce topic the route never says retry). It reports whether j is
// finished.
func (ln *lane) follow(j job, mb *member, v listener.Verdict) bool {
	if v.Retry() {
		ln.cnt.retried.Add(1)
		j.attempts = v.Next() - 1 // the same number again after an attempt the breaker refused
		ln.retryLater(j, v.Delay())
		return false
	}
	g := v.GiveUp()
	ln.deadLetter(j, mb, g.ListenerID, g.Attempts, g.Exhausted, g.Err)
	return true
}

// deadLetter gives j up through mb's route (counted always; stored and
// handed to the handler under the policy in force: the registration's, or
// the topic's); the caller settles it.
func (ln *lane) deadLetter(j job, mb *member, id string, attempts int, exhausted bool, err error) {
	ln.cnt.deadLettered.Add(1)
	mb.rt.DeadLetter(j.m.Event, &DeadLetterError{
		Topic: ln.t.name, ListenerID: id, Group: ln.c.group,
		Attempts: attempts, Exhausted: exhausted, Err: err,
	})
	if j.claimed {
		// Forget the claim, so that the event published again is handled.
		if err := ln.t.store.Release(ln.b.runCtx, ln.c.scope, j.m.Event.ID()); err != nil {
			ln.b.logError("idempotency store release failed", err, ln.t.name, j.m.Event)
		}
	}
}

// member is one subscription attached to a consumer, with its route to
// the listener manager: the topic's policies while its listener is not
// registered there, the registration's once it is.
type member struct {
	sp *spec
	rt *listener.Route
}

// route returns sp's route for topic t.
func (b *Bus) route(t *topic, sp *spec) (*listener.Route, error) {
	rc := listener.RouteConfig{
		Policy: listener.Policy{
			RetryPolicy: t.cfg.RetryPolicy,
			DeadLetter:  t.cfg.DeadLetter,
			Timeout:     t.cfg.HandlerTimeout,
		},
		Once:      t.cfg.DeliveryMode == AtMostOnce,
		Component: b.name,
	}
	if b.metrics != nil {
		rc.Metrics = b.metrics
	}
	if !rc.DeadLetter.Enabled {
		rc.DeadLetter.Handler = nil // documented as needing Enabled
	}
	return b.lm.Route(sp.listener, rc)
}

// Listeners returns the listener manager that runs this bus's attempts and
// holds its dead letters (list, inspect and redrive them there):
// Config.Listeners, or the bus's own, stopped by Shutdown.
func (b *Bus) Listeners() *listener.Manager { return b.lm }

func (b *Bus) logError(msg string, err error, topic string, e shared.Event) {
	if b.cfg.Logger != nil {
		b.cfg.Logger.Error("bus: "+msg, "topic", topic, "event_id", e.ID(), "error", err)
	}
}
