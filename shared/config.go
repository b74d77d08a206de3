package shared

import (
	"errors"
	"strconv"
)

// ErrInvalidConfig is matched (errors.Is) by every *ConfigError: a setting
// that a constructor, Register, CreateTopic or Open cannot make sense of.
var ErrInvalidConfig = errors.New("nova: invalid config")

// ConfigError is the one shape in which Nova's packages refuse a setting:
// which component, which field, and why. Every package's ConfigError is this
// type, so one errors.As finds it whichever package refused. It matches
// ErrInvalidConfig and is permanent: the same call fails the same way until
// the configuration changes.
type ConfigError struct {
	// Component is the package or part that refused ("bus", "workerpool",
	// "amqp", "postgres", ...).
	Component string
	// Field names the setting, as the user wrote it ("TopicConfig.Partitions",
	// "workers").
	Field string
	// Reason says what is wrong and, where there is one, what is accepted.
	Reason string
}

func (e *ConfigError) Error() string {
	return e.Component + ": invalid config: " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// NewConfigError returns a *ConfigError; it is a convenience for the
// packages' constructors.
func NewConfigError(component, field, reason string) *ConfigError {
	return &ConfigError{Component: component, Field: field, Reason: reason}
}

// Range is a Reason for a number outside [lo, hi].
func Range(got, lo, hi int64) string {
	return strconv.FormatInt(got, 10) + " is outside " + strconv.FormatInt(lo, 10) + " to " + strconv.FormatInt(hi, 10)
}
