// Package shared holds the types every part of Nova speaks: events, listeners,
// subscriptions, middleware, the metrics hook and the errors they return.
//
// An [Event] is an immutable fact with an ID, a type such as "order.created",
// a timestamp, a payload and string metadata. [BaseEvent] is the ready-made
// implementation; its zero value is usable, so it can be pooled.
//
// A [Listener] handles events. [NewBaseListener] adapts the plain
// func(Event) error that most handlers are; [NewListener] adapts a handler that
// wants the context (deadlines, cancellation, trace spans).
//
// Two kinds of middleware exist. [Middleware] (and its struct adapter
// [MiddlewareFunc]) runs hooks before and after an event is dispatched, the way
// the emitter's Middleware method uses them. [ListenerMiddleware] wraps a
// Listener in another Listener, for concerns that need the handler's context:
// [Recover], [Timeout], tracing. [Chain] composes them.
//
// The package imports only the standard library and starts no goroutines.
//
//	e := shared.NewBaseEventWithMetadata("order-1", "order.created", order,
//		map[string]string{"customer_id": "c-7"})
//	l := shared.NewBaseListener("mailer", func(e shared.Event) error {
//		return sendReceipt(e.Data().(Order))
//	})
//	if err := shared.Validate(e); err != nil { ... }
package shared
