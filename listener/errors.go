package listener

import (
	"errors"
	"time"

	"github.com/novaevents/nova/shared"
)

var (
	// ErrCircuitOpen is returned by Attempt and Handle, without calling the
	// handler, while a listener's circuit breaker is open or its half-open
	// probes are all taken. The error returned is a *CircuitOpenError.
	ErrCircuitOpen = errors.New("listener: circuit open")
	// ErrStopped is returned by calls that need the manager's goroutines
	// after Stop, and wrapped around the error of retries and dead letters
	// that Stop could not finish in time.
	ErrStopped = errors.New("listener: manager stopped")
	// ErrAlreadyRegistered is returned by Register for an ID already in use.
	ErrAlreadyRegistered = errors.New("listener: already registered")
	// ErrInvalidConfig is wrapped by Register and NewManager errors about
	// nonsensical settings (negative sizes, a multiplier below 1, ...).
	ErrInvalidConfig = errors.New("listener: invalid config")
	// ErrDeadLetterNotFound is returned for a dead-letter ID the store does
	// not hold (any more).
	ErrDeadLetterNotFound = errors.New("listener: dead letter not found")
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

// ConfigError says which setting Register or NewManager refused. It matches
// ErrInvalidConfig.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return "listener: invalid config: " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

func quote(s string) string { return `"` + s + `"` }
