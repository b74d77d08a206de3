package listener

import (
	"errors"
	"fmt"
	"time"

	"github.com/novaevents/nova/shared"
)

var (
	// ErrCircuitOpen is returned by Route.Attempt and Handle, without calling the
	// handler, while a listener's circuit breaker is open or its half-open
	// probes are all taken. The error returned is a *CircuitOpenError.
	ErrCircuitOpen = errors.New("listener: circuit open")
	// ErrClosed is returned by calls that need the manager's goroutines
	// after Stop, and wrapped around the error of retries and dead letters
	// that Stop could not finish in time.
	ErrClosed = errors.New("listener: manager stopped")
	// ErrStopped is ErrClosed.
	//
	// Deprecated: use ErrClosed, the name every Nova package gives its
	// closed error.
	ErrStopped = ErrClosed
	// ErrAlreadyRegistered is returned by Register for an ID already in use.
	ErrAlreadyRegistered = errors.New("listener: already registered")
	// ErrInvalidConfig is matched by Register and NewManager errors about
	// nonsensical settings (negative sizes, a multiplier below 1, ...). It
	// is shared.ErrInvalidConfig.
	ErrInvalidConfig = shared.ErrInvalidConfig
	// ErrDeadLetterNotFound is returned for a dead-letter ID the store does
	// not hold (any more).
	ErrDeadLetterNotFound = errors.New("listener: dead letter not found")
	// ErrCallbackPanic is matched by the *CallbackPanicError of a policy
	// callback (RetryPolicy.RetryCondition) that panicked.
	ErrCallbackPanic = errors.New("listener: policy callback panicked")
	// ErrNotFound is shared.ErrListenerNotFound: Unregister of an unknown ID.
	ErrNotFound = shared.ErrListenerNotFound
	// ErrNilListener is shared.ErrNilListener.
	ErrNilListener = shared.ErrNilListener
)

// CircuitOpenError is the error of an attempt refused by an open breaker. It
// matches ErrCircuitOpen.
type CircuitOpenError struct {
	ListenerID string
	// RetryAfter is how long until the breaker lets a probe through; 0 when
	// it is half-open and only waiting for its probes to finish.
	RetryAfter time.Duration
}

func (e *CircuitOpenError) Error() string {
	return "listener: circuit open for " + quote(e.ListenerID)
}

// Is reports whether target is ErrCircuitOpen.
func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

// CallbackPanicError is what a panic in a policy callback becomes:
// RetryPolicy.RetryCondition panicking while it judged Err. The event is
// then not retried, and the *RetryError it is dead-lettered with wraps this
// error, so the panic and its stack reach the dead letter. It matches
// ErrCallbackPanic and unwraps to Err, the handler's error.
type CallbackPanicError struct {
	Callback string // which callback: "RetryPolicy.RetryCondition"
	Value    any    // the value passed to panic
	Stack    []byte // the stack of the panicking goroutine
	Err      error  // the error the callback was called with
}

func (e *CallbackPanicError) Error() string {
	return fmt.Sprintf("listener: %s panicked: %v (judging error: %s)", e.Callback, e.Value, errString(e.Err))
}

// Is reports whether target is ErrCallbackPanic.
func (e *CallbackPanicError) Is(target error) bool { return target == ErrCallbackPanic }

// Unwrap returns the error the callback was called with.
func (e *CallbackPanicError) Unwrap() error { return e.Err }

// AttemptCounter is implemented by errors that know how many attempts were
// made on an event before it was given up: *RetryError, and the dead-letter
// errors of other dispatchers (the bus's *DeadLetterError). When an error
// passed to Manager.DeadLetter (or made by the manager) has one in its
// chain, errors.As finds it and its AttemptCount becomes
// DeadLetter.Attempts.
type AttemptCounter interface {
	AttemptCount() int
}

// ConfigError says which setting Register, Route or NewManager refused,
// and why: it is shared.ConfigError, the one shape every Nova package
// refuses a setting in. It matches ErrInvalidConfig.
type ConfigError = shared.ConfigError

func newConfigError(field, reason string) *ConfigError {
	return shared.NewConfigError("listener", field, reason)
}

func quote(s string) string { return `"` + s + `"` }
