package bus

import (
	"errors"
	"strconv"

	"github.com/novaevents/nova/shared"
)

// Sentinel errors. The ones Nova's packages share are the shared values
// themselves, so errors.Is works with either name.
var (
	// ErrClosed is returned by Publish, CreateTopic and the Subscribe
	// calls once Shutdown has begun.
	ErrClosed = errors.New("bus: closed")
	// ErrBusClosed is ErrClosed.
	//
	// Deprecated: use ErrClosed, the name every Nova package gives its
	// closed error.
	ErrBusClosed = ErrClosed
	// ErrTopicNotFound is returned for a topic that was never created, when
	// Config.AutoCreateTopics is off, and by DeleteTopic for an unknown
	// name. It is shared.ErrTopicNotFound.
	ErrTopicNotFound = shared.ErrTopicNotFound
	// ErrBufferFull is returned by Publish when the event's partition is full
	// and the topic's Overflow is workerpool.RejectNew. It is shared.ErrBufferFull.
	ErrBufferFull = shared.ErrBufferFull
	// ErrInvalidEvent is shared.ErrInvalidEvent: a nil event, an empty ID or
	// an empty type.
	ErrInvalidEvent = shared.ErrInvalidEvent
	// ErrRetryLimitExceeded is shared.ErrRetryLimitExceeded, wrapped around
	// the last error of an event whose retries ran out.
	ErrRetryLimitExceeded = shared.ErrRetryLimitExceeded

	// ErrTopicExists is returned by CreateTopic for a name already in use.
	ErrTopicExists = errors.New("bus: topic already exists")
	// ErrInvalidTopic is returned for an empty topic name or one that
	// contains a wildcard token.
	ErrInvalidTopic = errors.New("bus: invalid topic name")
	// ErrInvalidConfig is matched by the *ConfigError CreateTopic returns for
	// a setting it cannot make sense of (an unknown delivery mode, a size
	// past its limit). It is shared.ErrInvalidConfig.
	ErrInvalidConfig = shared.ErrInvalidConfig
	// ErrInvalidSubscription is wrapped around the reason a Subscribe call
	// was refused (a nil listener, an empty listener ID or group name, a
	// malformed pattern).
	ErrInvalidSubscription = errors.New("bus: invalid subscription")
	// ErrNotInitialized is returned by every method of a Bus that New did
	// not make (the zero Bus).
	ErrNotInitialized = errors.New("bus: zero Bus: create it with bus.New")
	// ErrExpired is the error handed to the dead letter with an event that
	// waited longer than its topic's Retention before its first attempt.
	ErrExpired = errors.New("bus: event expired before delivery")
)

// TopicError names the topic an error is about. It unwraps to the cause
// (ErrTopicNotFound, ErrTopicExists, ErrInvalidTopic...).
type TopicError struct {
	Topic string
	Err   error
}

func (e *TopicError) Error() string { return e.Err.Error() + ": " + quote(e.Topic) }

// Unwrap returns the cause.
func (e *TopicError) Unwrap() error { return e.Err }

// ConfigError says which setting CreateTopic refused, and why: it is
// shared.ConfigError, the one shape every Nova package refuses a setting
// in. It matches ErrInvalidConfig.
type ConfigError = shared.ConfigError

func newConfigError(field, reason string) *ConfigError {
	return shared.NewConfigError("bus", field, reason)
}

// DeadLetterError is the error a dead-letter handler receives: which
// subscriber gave up on the event, after how many attempts, and the last
// error. It unwraps to the last error, and matches ErrRetryLimitExceeded
// when the retries ran out (rather than a permanent error, an AtMostOnce
// failure or an expired event).
type DeadLetterError struct {
	Topic string
	// ListenerID is the listener that made the last attempt ("" for an
	// event that expired before any attempt).
	ListenerID string
	// Group is the consumer group, "" for a plain subscription.
	Group string
	// Attempts is how many attempts were made.
	Attempts int
	// Exhausted is true when the retry policy ran out of attempts.
	Exhausted bool
	// Err is the last attempt's error (ErrExpired for an expired event).
	Err error
}

func (e *DeadLetterError) Error() string {
	who := e.ListenerID
	if e.Group != "" {
		who = "group " + quote(e.Group) + " (" + e.ListenerID + ")"
	}
	msg := "bus: dead letter on topic " + quote(e.Topic) + " for " + who + " after " + strconv.Itoa(e.Attempts) + " attempt"
	if e.Attempts != 1 {
		msg += "s"
	}
	if e.Exhausted {
		msg += " (retry limit exceeded)"
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the last attempt's error.
func (e *DeadLetterError) Unwrap() error { return e.Err }

// AttemptCount returns Attempts. It makes a *DeadLetterError a
// listener.AttemptCounter, so that the listener manager's dead-letter store
// records the bus's attempt count for a registered listener.
func (e *DeadLetterError) AttemptCount() int { return e.Attempts }

// Is matches ErrRetryLimitExceeded when the retries ran out.
func (e *DeadLetterError) Is(target error) bool {
	return e.Exhausted && target == ErrRetryLimitExceeded
}

func quote(s string) string { return `"` + s + `"` }
