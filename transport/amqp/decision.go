package amqp

import (
	"context"
	"errors"
	"fmt"

	"github.com/novaevents/nova/shared"
)

// AckDecision is what the consumer does with a delivery once its handler
// returns.
type AckDecision uint8

const (
	// DecideByError acknowledges when the handler's error is nil and
	// otherwise lets ConsumerConfig.ErrorPolicy decide. It is the zero value.
	DecideByError AckDecision = iota
	// Ack acknowledges: the message is done.
	Ack
	// NackRequeue hands the message back for another attempt after the
	// retry delay. Attempts are counted: after Retry.MaxAttempts the message is
	// dead-lettered, so a message can never loop forever.
	NackRequeue
	// Reject dead-letters the message at once, with the handler's error as
	// the reason.
	Reject
)

func (d AckDecision) String() string {
	switch d {
	case DecideByError:
		return "decide-by-error"
	case Ack:
		return "ack"
	case NackRequeue:
		return "nack-requeue"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("AckDecision(%d)", uint8(d))
}

// Handler processes deliveries. An explicit decision (Ack, NackRequeue,
// Reject) is applied as returned; DecideByError (the zero value) maps the
// error through the consumer's ErrorPolicy. The error is recorded either way
// and becomes the dead-letter reason. Handlers run concurrently, up to
// MaxConcurrentHandlers at once.
type Handler interface {
	HandleDelivery(ctx context.Context, d *Delivery) (AckDecision, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, d *Delivery) (AckDecision, error)

// HandleDelivery calls f.
func (f HandlerFunc) HandleDelivery(ctx context.Context, d *Delivery) (AckDecision, error) {
	return f(ctx, d)
}

// DefaultErrorPolicy rejects (dead-letters at once) errors that retrying
// cannot fix: malformed messages and errors marked with shared.Permanent.
// Everything else, panics and timeouts included, is retried.
func DefaultErrorPolicy(err error) AckDecision {
	if errors.Is(err, ErrMalformed) || shared.IsPermanent(err) {
		return Reject
	}
	return NackRequeue
}
