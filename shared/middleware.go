package shared

import (
	"context"
	"fmt"
	"time"
)

// Middleware runs around the dispatch of an event. Before runs before any
// listener sees the event; a non-nil error stops the dispatch and is returned
// to the caller (to OnAsyncError for an async event). After runs once the
// listeners are done, with their joined error; its own error is only
// counted (the emitter's Stats.MiddlewareErrors): it neither reaches the
// caller nor undoes the dispatch. A panic in either hook is recovered and
// becomes a *PanicError: from Before it stops the dispatch like an error;
// from After it is counted and also returned with the listeners' errors.
// Middleware registered on an emitter runs in registration order for Before
// and in reverse order for After.
//
// Both hooks may run on several goroutines at once (concurrent Emit calls,
// async drainers) and may see the same event concurrently: they must be
// safe for that. BaseEvent.SetMetadata is.
type Middleware interface {
	Before(ctx context.Context, e Event) error
	After(ctx context.Context, e Event, err error) error
}

// MiddlewareFunc builds a Middleware from two optional functions. Either may
// be nil. It ignores the context; implement Middleware directly when the
// hooks need it.
type MiddlewareFunc struct {
	BeforeFunc func(Event) error
	AfterFunc  func(Event, error) error
}

// Before calls BeforeFunc if set.
func (m MiddlewareFunc) Before(_ context.Context, e Event) error {
	if m.BeforeFunc == nil {
		return nil
	}
	return m.BeforeFunc(e)
}

// After calls AfterFunc if set.
func (m MiddlewareFunc) After(_ context.Context, e Event, err error) error {
	if m.AfterFunc == nil {
		return nil
	}
	return m.AfterFunc(e, err)
}

// ListenerMiddleware wraps a Listener in another one that keeps its ID:
// the shape for concerns that need the handler's context, such as deadlines,
// tracing and panic recovery.
type ListenerMiddleware func(next Listener) Listener

// Chain wraps l in mws so that mws[0] is the outermost: an event passes
// through mws[0], then mws[1], …, then reaches l. Nil middleware is skipped.
func Chain(l Listener, mws ...ListenerMiddleware) Listener {
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			l = mws[i](l)
		}
	}
	return l
}

type wrapped struct {
	id string
	fn HandlerFunc
}

func (w *wrapped) ID() string                                { return w.id }
func (w *wrapped) Handle(ctx context.Context, e Event) error { return w.fn(ctx, e) }

// Wrap returns a Listener with next's ID that calls fn. It is the building
// block for ListenerMiddleware.
func Wrap(next Listener, fn func(ctx context.Context, e Event) error) Listener {
	return &wrapped{id: next.ID(), fn: fn}
}

// SafeHandle calls l.Handle and turns a panic into a *PanicError carrying
// the stack. Every Nova dispatcher calls listeners through it.
func SafeHandle(ctx context.Context, l Listener, e Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = NewPanicError(r)
		}
		if err != nil {
			err = tellOnError(ctx, l, e, err)
		}
	}()
	return l.Handle(ctx, e)
}

// ErrorHook is implemented by a listener that wants to hear of its own
// failures, as kolosys/nova's Listener interface required: OnError is
// called once with each error its Handle returned (or its panic, as a
// *PanicError), on the same goroutine, before the attempt's outcome is
// decided. A non-nil result replaces the error (retries and dead letters
// then see it); nil keeps the original. A panic in OnError is recovered
// and becomes the attempt's error. Nova's dispatchers call it through
// SafeHandle, so it applies wherever an attempt is made; a listener
// wrapped by ListenerMiddleware is reached through its wrapper, which
// hides the hook unless the wrapper forwards it.
type ErrorHook interface {
	OnError(ctx context.Context, e Event, err error) error
}

func tellOnError(ctx context.Context, l Listener, e Event, err error) (out error) {
	h, ok := l.(ErrorHook)
	if !ok {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			out = NewPanicError(r)
		}
	}()
	if hookErr := h.OnError(ctx, e, err); hookErr != nil {
		return hookErr
	}
	return err
}

// Recover is ListenerMiddleware that turns a panic in the wrapped listener
// into a *PanicError. Nova's dispatchers already recover; use it for
// listeners that are called some other way.
func Recover() ListenerMiddleware {
	return func(next Listener) Listener {
		return Wrap(next, func(ctx context.Context, e Event) error { return SafeHandle(ctx, next, e) })
	}
}

// TimeoutError is returned by the Timeout middleware when a handler does not
// return within its limit. It matches ErrTimeout and context.DeadlineExceeded.
type TimeoutError struct {
	ListenerID string
	Limit      time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("nova: listener %q timed out after %v", e.ListenerID, e.Limit)
}

// Is matches ErrTimeout and context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// Timeout is ListenerMiddleware that gives each call a deadline of d
// through its context, under Nova's one timeout rule (see [HandleWithin]):
// a handler that returns nil has succeeded, even after the deadline; one
// that returns an error once the deadline has passed fails with a
// *TimeoutError. If the caller's own context ends first (an earlier
// deadline, a cancellation), that is not this middleware's timeout: the
// handler's error comes back unchanged. A handler that ignores its context
// keeps running: Go cannot stop it, and the dispatcher waits for it.
func Timeout(d time.Duration) ListenerMiddleware {
	return func(next Listener) Listener {
		if d <= 0 {
			return next
		}
		return Wrap(next, func(ctx context.Context, e Event) error {
			tctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return timedOut(ctx, tctx, d, next.ID(), next.Handle(tctx, e))
		})
	}
}

// HandleWithin calls l with a context whose deadline is limit from now,
// recovering a panic as SafeHandle does. It is Nova's one timeout rule,
// which the listener manager's Timeout, a bus topic's HandlerTimeout (on
// any broker) and the Timeout middleware follow:
//
//   - a handler that returns nil has succeeded, even if it returned after
//     its deadline: its work is done, and running it again would repeat it
//     (for ExactlyOnce, handle one event twice);
//   - a handler that returns an error once the deadline has passed failed
//     with a *TimeoutError (matching ErrTimeout and
//     context.DeadlineExceeded), whatever error it returned;
//   - if ctx itself ended, the handler's error is returned as it is: the
//     caller gave up, the handler did not time out.
//
// The standalone RabbitMQ Consumer's HandlerTimeout is the one exception,
// and it is the rule's own limit case: that consumer does not wait for a
// handler past its deadline but abandons it (so that a stuck handler cannot
// hold its delivery), and an abandoned attempt has failed with a
// *TimeoutError; a result that arrives after the deadline is therefore a
// timeout there, even nil.
//
// A limit of zero or less means no deadline.
func HandleWithin(ctx context.Context, limit time.Duration, l Listener, e Event) error {
	if limit <= 0 {
		return SafeHandle(ctx, l, e)
	}
	tctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return timedOut(ctx, tctx, limit, l.ID(), SafeHandle(tctx, l, e))
}

// timedOut applies the timeout rule to err, returned by a handler called
// with tctx, derived from ctx with a limit.
func timedOut(ctx, tctx context.Context, limit time.Duration, id string, err error) error {
	if err != nil && tctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		return &TimeoutError{ListenerID: id, Limit: limit}
	}
	return err
}
