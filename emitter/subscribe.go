package emitter

import (
	"fmt"
	"slices"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// table is the immutable routing snapshot that Emit reads without locks.
// Writers copy it under mu and swap it in.
type table struct {
	exact    map[string][]*entry
	patterns []*entry
	mws      []shared.Middleware
	wraps    []shared.ListenerMiddleware
	count    int
}

type entry struct {
	sub        *shared.BaseSubscription
	topic      string
	listener   shared.Listener
	listenerID string
	handler    shared.Listener // listener wrapped by the emitter's ListenerMiddleware
	rt         *listener.Route // handler's route to the listener manager
}

func (t *table) clone() *table {
	n := &table{
		exact:    make(map[string][]*entry, len(t.exact)),
		patterns: slices.Clone(t.patterns),
		mws:      slices.Clone(t.mws),
		wraps:    slices.Clone(t.wraps),
		count:    t.count,
	}
	for k, v := range t.exact {
		n.exact[k] = v // slices are never modified in place
	}
	return n
}

// Subscribe registers l for events whose type is eventType, or matches it as
// a pattern: "order.*" matches one token ("order.created"), "order.>" one or
// more ("order.item.added"). The returned Subscription's Unsubscribe removes
// this registration only; the same listener may be subscribed several times.
//
// The shape is the one the seeds use. For a nil listener, an empty listener
// ID or a malformed pattern it returns a Subscription that is not Active and
// whose Err (shared.SubscriptionErr) and Unsubscribe return the error
// (wrapping ErrInvalidSubscription); use
// SubscribeE to get the error directly. Subscribing after Shutdown likewise
// returns an inactive Subscription with ErrClosed.
func (e *Emitter) Subscribe(eventType string, l shared.Listener) shared.Subscription {
	sub, err := e.SubscribeE(eventType, l)
	if err != nil {
		return shared.FailedSubscription(eventType, l, err)
	}
	return sub
}

// SubscribeE is Subscribe with the error returned.
func (e *Emitter) SubscribeE(eventType string, l shared.Listener) (shared.Subscription, error) {
	if e.buf == nil {
		return nil, e.unusable()
	}
	if err := shared.ValidateListener(l); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSubscription, err)
	}
	// Exact types are checked too: Emit relies on a subscribed exact type
	// being a valid event type (no wildcard, no empty token).
	isPattern := shared.IsPattern(eventType)
	if err := shared.ValidatePattern(eventType); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSubscription, err)
	}
	if e.closed() {
		return nil, ErrClosed
	}
	en := &entry{topic: eventType, listener: l, listenerID: l.ID()}
	en.sub = shared.NewSubscription(shared.NextSubscriptionID(), eventType, l, func() error {
		e.remove(en, isPattern)
		return nil
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.table.Load().clone()
	en.handler = shared.Chain(l, t.wraps...)
	rt, err := e.route(en.handler)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSubscription, err)
	}
	en.rt = rt
	if isPattern {
		t.patterns = append(t.patterns, en)
	} else {
		t.exact[eventType] = append(slices.Clone(t.exact[eventType]), en)
	}
	t.count++
	e.table.Store(t)
	return en.sub, nil
}

func (e *Emitter) remove(en *entry, isPattern bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.table.Load().clone()
	if isPattern {
		t.patterns = slices.DeleteFunc(t.patterns, func(x *entry) bool { return x.sub == en.sub })
	} else {
		list := slices.DeleteFunc(slices.Clone(t.exact[en.topic]), func(x *entry) bool { return x.sub == en.sub })
		if len(list) == 0 {
			delete(t.exact, en.topic)
		} else {
			t.exact[en.topic] = list
		}
	}
	t.count--
	e.table.Store(t)
}

// Middleware adds hooks that run around every dispatch, sync or async:
// Before in the order added, After in reverse. A shared.MiddlewareFunc is a
// Middleware. Nil entries are ignored.
func (e *Emitter) Middleware(mws ...shared.Middleware) {
	if e.buf == nil {
		return // unusable: every Emit returns the error
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.table.Load().clone()
	for _, mw := range mws {
		if !shared.IsNil(mw) {
			t.mws = append(t.mws, mw)
		}
	}
	e.table.Store(t)
}

// WrapListeners adds handler-wrapping middleware (timeouts, tracing,
// recovery) around every listener, present and future. The first one given
// is the outermost.
// route returns the route of h, a subscription's wrapped listener, to the
// listener manager, with Config.Policy for when it is not registered
// there (without one: tried once, its failure returned to the caller,
// nothing dead-lettered).
func (e *Emitter) route(h shared.Listener) (*listener.Route, error) {
	rc := listener.RouteConfig{Metrics: e.cfg.Metrics, Component: e.name}
	if p := e.cfg.Policy; p != nil {
		rc.Policy = *p
	} else {
		rc.RetryPolicy.MaxAttempts = 1
	}
	return e.lm.Route(h, rc)
}

func (e *Emitter) WrapListeners(mws ...shared.ListenerMiddleware) {
	if e.buf == nil {
		return // unusable: every Emit returns the error
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.table.Load().clone()
	t.wraps = append(t.wraps, mws...)
	rewrap := func(list []*entry) []*entry {
		out := make([]*entry, len(list))
		for i, en := range list {
			cp := *en
			cp.handler = shared.Chain(en.listener, t.wraps...)
			if rt, err := e.route(cp.handler); err == nil { // cannot fail: its listener is valid
				cp.rt = rt
			}
			out[i] = &cp
		}
		return out
	}
	for k, v := range t.exact {
		t.exact[k] = rewrap(v)
	}
	t.patterns = rewrap(t.patterns)
	e.table.Store(t)
}

// Listeners returns the listener manager that runs this emitter's attempts
// and holds its dead letters (list, inspect and redrive them there):
// Config.Listeners, or the emitter's own, stopped by Shutdown.
func (e *Emitter) Listeners() *listener.Manager { return e.lm }
