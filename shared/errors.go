package shared

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// Sentinel errors shared by Nova's packages: concepts that several of them
// report the same way. The packages re-export the ones that concern them
// (bus.ErrBufferFull is shared.ErrBufferFull), so errors.Is works with
// either name. A component's own errors (its ErrClosed, say) live in its
// package.
var (
	// ErrInvalidEvent is wrapped by every *ValidationError: a nil event, an
	// empty ID or an empty type.
	ErrInvalidEvent = errors.New("nova: invalid event")
	// ErrNilListener is returned when a nil Listener is subscribed or registered.
	ErrNilListener = errors.New("nova: nil listener")
	// ErrInvalidListener is returned for a listener whose ID is empty or
	// that has no handler function.
	ErrInvalidListener = errors.New("nova: invalid listener")
	// ErrNoHandler is returned by the Handle of a BaseListener made with a
	// nil function, and matched by ValidateListener's error for it. It is
	// permanent: nothing retries it.
	ErrNoHandler = Permanent(errors.New("nova: listener has no handler function"))
	// ErrBufferFull is returned when a bounded buffer is full and its policy
	// rejects instead of waiting.
	ErrBufferFull = errors.New("nova: buffer full")
	// ErrTopicNotFound is returned for a topic that was never created.
	ErrTopicNotFound = errors.New("nova: topic not found")
	// ErrListenerNotFound is returned for a listener ID that is not registered.
	ErrListenerNotFound = errors.New("nova: listener not found")
	// ErrListenerPanic is matched (errors.Is) by every *PanicError.
	ErrListenerPanic = errors.New("nova: listener panicked")
	// ErrTimeout is matched by errors produced when a handler's time runs out.
	ErrTimeout = errors.New("nova: timed out")
	// ErrRetryLimitExceeded is wrapped around the last error of an event whose
	// retries are exhausted.
	ErrRetryLimitExceeded = errors.New("nova: retry limit exceeded")
	// ErrPermanent is matched by errors marked with Permanent: they are never
	// retried.
	ErrPermanent = errors.New("nova: permanent failure")
)

// ValidationError reports why an event was refused. It matches
// ErrInvalidEvent with errors.Is.
type ValidationError struct {
	Field  string // "event", "id" or "type"
	Reason string
}

func (e *ValidationError) Error() string {
	return "nova: invalid event: " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrInvalidEvent.
func (e *ValidationError) Unwrap() error { return ErrInvalidEvent }

// ListenerError is the error of one listener for one event. Emit joins one
// per failing listener.
type ListenerError struct {
	ListenerID string
	EventID    string
	EventType  string
	Err        error
}

func (e *ListenerError) Error() string {
	return fmt.Sprintf("listener %q on event %q (%s): %v", e.ListenerID, e.EventID, e.EventType, e.Err)
}

// Unwrap returns the listener's own error.
func (e *ListenerError) Unwrap() error { return e.Err }

// PanicError is what a recovered listener panic becomes. It matches
// ErrListenerPanic, and also the panic value when that value is an error.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the stack of the panicking goroutine
}

// NewPanicError captures the current stack; call it from the deferred recover.
func NewPanicError(v any) *PanicError {
	return &PanicError{Value: v, Stack: debug.Stack()}
}

func (e *PanicError) Error() string { return fmt.Sprintf("nova: listener panicked: %v", e.Value) }

// Is reports whether target is ErrListenerPanic.
func (e *PanicError) Is(target error) bool { return target == ErrListenerPanic }

// Unwrap returns the panic value if it was an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// Permanent marks err as not worth retrying: retry policies stop at once and
// the event goes to the dead letter. The result still matches err with
// errors.Is and errors.As. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent or is ErrPermanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }
