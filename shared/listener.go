package shared

import (
	"context"
	"fmt"
)

// Listener handles events. Handle may be called concurrently for different
// events unless the component delivering them promises otherwise (the bus
// serialises events of one ordering key). An error means the event was not
// handled; whether it is retried depends on the delivery mode and the
// listener's retry policy.
type Listener interface {
	// ID names the listener. It must not be empty, and it is how the listener
	// manager finds the policies registered for it.
	ID() string
	// Handle processes one event. ctx carries the values of the emitting
	// call and the handler's deadline, if any.
	Handle(ctx context.Context, e Event) error
}

// HandlerFunc adapts a function to the Handle half of a Listener; give it an
// ID with NewListener.
type HandlerFunc func(ctx context.Context, e Event) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, e Event) error { return f(ctx, e) }

// BaseListener is a Listener built from an ID and a function. It is safe for
// concurrent use if its function is.
type BaseListener struct {
	id string
	fn HandlerFunc
}

// NewBaseListener returns a listener that calls fn, for handlers that do not
// need the context.
func NewBaseListener(id string, fn func(Event) error) *BaseListener {
	l := &BaseListener{id: id}
	if fn != nil {
		l.fn = func(_ context.Context, e Event) error { return fn(e) }
	}
	return l
}

// NewListener returns a listener that calls fn with the handler's context.
func NewListener(id string, fn func(ctx context.Context, e Event) error) *BaseListener {
	return &BaseListener{id: id, fn: fn}
}

// ID returns the listener's ID.
func (l *BaseListener) ID() string { return l.id }

// Handle calls the listener's function. A listener built with a nil
// function does nothing useful: ValidateListener refuses it (so Subscribe
// and Register do), and Handle returns ErrNoHandler, a permanent error.
func (l *BaseListener) Handle(ctx context.Context, e Event) error {
	if l.fn == nil {
		return ErrNoHandler
	}
	return l.fn(ctx, e)
}

// ValidateListener reports a nil listener (ErrNilListener), one with an
// empty ID (ErrInvalidListener) and a BaseListener made with a nil function
// (ErrNoHandler, which also matches ErrInvalidListener).
func ValidateListener(l Listener) error {
	if IsNil(l) {
		return ErrNilListener
	}
	if l.ID() == "" {
		return ErrInvalidListener
	}
	if bl, ok := l.(*BaseListener); ok && bl.fn == nil {
		return fmt.Errorf("%w: %q: %w", ErrInvalidListener, bl.id, ErrNoHandler)
	}
	return nil
}
