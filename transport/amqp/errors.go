package amqp

import (
	"errors"
	"fmt"

	"github.com/novaevents/nova/shared"
)

// Errors returned by this package. Typed errors below match them with
// errors.Is.
var (
	// ErrClosed is returned by a Client, Publisher, Consumer or Broker that
	// has been closed or stopped, and resolves the receipts still pending when a
	// Publisher's Close gives up.
	ErrClosed = errors.New("amqp: closed")
	// ErrInvalidConfig is matched by the *ConfigError of a config value
	// that makes no sense. It is shared.ErrInvalidConfig.
	ErrInvalidConfig = shared.ErrInvalidConfig
	// ErrBufferFull is shared.ErrBufferFull: the publisher's queue is full
	// and its overflow policy is RejectNew.
	ErrBufferFull = shared.ErrBufferFull
	// ErrPublishTimeout: the publish was not confirmed within PublishTimeout.
	// The broker may still have received it.
	ErrPublishTimeout = errors.New("amqp: publish not confirmed in time")
	// ErrNacked: the broker refused the message (basic.nack), for instance
	// because a queue is full and rejects publishes.
	ErrNacked = errors.New("amqp: publish nacked by broker")
	// ErrUnroutable is matched by *ReturnedError: a mandatory message that no
	// queue would receive.
	ErrUnroutable = errors.New("amqp: message unroutable")
	// ErrExchangeNotFound: the target exchange does not exist.
	ErrExchangeNotFound = errors.New("amqp: exchange not found")
	// ErrQueueNotFound: the queue a Consumer was started on does not exist.
	ErrQueueNotFound = errors.New("amqp: queue not found")
	// ErrMalformed is matched by *MalformedError: a delivery that cannot be
	// turned into what the handler expects. Such messages are dead-lettered
	// at once, never retried.
	ErrMalformed = errors.New("amqp: malformed message")
	// ErrAlreadyStarted is returned by a second Consumer.Start.
	ErrAlreadyStarted = errors.New("amqp: consumer already started")
	// ErrNotStarted is returned by Stop on a consumer that never started.
	ErrNotStarted = errors.New("amqp: consumer not started")
	// ErrNilHandler is returned by Start without a handler.
	ErrNilHandler = errors.New("amqp: nil handler")
	// ErrNotDone is returned by Receipt.Result before the receipt resolves.
	ErrNotDone = errors.New("amqp: receipt not resolved yet")
	// ErrBorrowTimeout: no pooled channel could be borrowed within
	// Config.BorrowTimeout (no connection, or every place borrowed).
	ErrBorrowTimeout = errors.New("amqp: no channel available within BorrowTimeout")
	// ErrInvalidMessage reports a message that cannot be published, such as
	// an empty exchange and routing key.
	ErrInvalidMessage = errors.New("amqp: invalid message")
)

// PublishError is the final error of a publish that was not confirmed.
type PublishError struct {
	Exchange   string
	RoutingKey string
	MessageID  string
	Attempts   int   // tries the broker answered (nack, return, missing exchange)
	Err        error // ErrPublishTimeout, ErrNacked, ErrClosed, a *ReturnedError…
	Cause      error // with ErrPublishTimeout or ErrClosed: the last failure seen, if any
}

func (e *PublishError) Error() string {
	msg := fmt.Sprintf("amqp: publish to exchange %q with key %q", e.Exchange, e.RoutingKey)
	if e.MessageID != "" {
		msg += fmt.Sprintf(" (message %q)", e.MessageID)
	}
	msg += fmt.Sprintf(" failed after %d attempt(s): %v", e.Attempts, e.Err)
	if e.Cause != nil {
		msg += fmt.Sprintf(" (last failure: %v)", e.Cause)
	}
	return msg
}

// Unwrap returns Err and Cause.
func (e *PublishError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// ReturnedError is a mandatory message the broker returned (basic.return)
// because it could not route it. It matches ErrUnroutable.
type ReturnedError struct {
	Code       uint16 // 312 NO_ROUTE for an unroutable message
	Text       string
	Exchange   string
	RoutingKey string
}

func (e *ReturnedError) Error() string {
	return fmt.Sprintf("amqp: message returned by broker: %d %s (exchange %q, key %q): no queue is bound to receive it",
		e.Code, e.Text, e.Exchange, e.RoutingKey)
}

// Is matches ErrUnroutable.
func (e *ReturnedError) Is(target error) bool { return target == ErrUnroutable }

// MalformedError says why a delivery could not be decoded. It matches
// ErrMalformed.
type MalformedError struct {
	Field  string // the header or part at fault: "cloudEvents:id", "body"…
	Reason string
	Err    error // the decoder's error, if any
}

func (e *MalformedError) Error() string {
	msg := "amqp: malformed message: " + e.Field + ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is matches ErrMalformed.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

// Unwrap returns the decoder's error.
func (e *MalformedError) Unwrap() error { return e.Err }

// ConfigError says which setting Dial, NewPublisher, NewConsumer or
// NewBroker refused, and why: it is shared.ConfigError, the one shape every
// Nova package refuses a setting in. It matches ErrInvalidConfig.
type ConfigError = shared.ConfigError

func configErrorf(field, format string, args ...any) *ConfigError {
	return shared.NewConfigError("amqp", field, fmt.Sprintf(format, args...))
}
