package amqp

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/shared"
)

// process runs the handler on one delivery and settles it.
func (k *Consumer) process(raw *amqp091.Delivery) {
	k.stats.received.Add(1)
	k.stats.inFlight.Add(1)
	defer k.stats.inFlight.Add(-1)

	d := newDelivery(k.cfg.Queue, raw)
	var (
		decision AckDecision
		err      error
	)
	if d.ContentEncoding == encodingGzip {
		d.Body, err = inflate(raw.Body, k.cfg.MaxDecompressedSize)
	}
	start := time.Now()
	if err == nil {
		decision, err = k.invoke(d)
		k.stats.latency.observe(time.Since(start))
		k.metrics.EventHandled(k.cfg.Name, k.cfg.Queue, d.Type, time.Since(start), err)
	}
	if err != nil {
		k.stats.failed.Add(1)
		if errors.Is(err, ErrMalformed) {
			k.stats.malformed.Add(1)
		}
	}
	if decision == DecideByError || decision > Reject {
		if err == nil && decision == DecideByError {
			decision = Ack
		} else {
			if err == nil {
				err = fmt.Errorf("amqp: handler returned unknown decision %v", decision)
			}
			decision = k.cfg.ErrorPolicy(err)
		}
	}
	switch decision {
	case Ack:
		if raw.Ack(false) == nil {
			k.stats.acked.Add(1)
		}
	case Reject:
		k.deadLetter(d, errOr(err, "rejected by handler"))
	default: // NackRequeue, or a policy that returned something odd
		k.retry(d, errOr(err, "handler asked for a retry"))
	}
}

// invoke calls the handler with the handler timeout and turns a panic into
// a *shared.PanicError.
func (k *Consumer) invoke(d *Delivery) (decision AckDecision, err error) {
	ctx := k.hctx
	if k.cfg.HandlerTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, k.cfg.HandlerTimeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			k.stats.panics.Add(1)
			decision, err = DecideByError, shared.NewPanicError(r)
			return
		}
		if k.cfg.HandlerTimeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			k.stats.timeouts.Add(1)
			decision, err = DecideByError, &shared.TimeoutError{ListenerID: k.cfg.Name, Limit: k.cfg.HandlerTimeout}
		}
	}()
	return k.handler.HandleDelivery(ctx, d)
}

func errOr(err error, text string) error {
	if err != nil {
		return err
	}
	return errors.New(text)
}

// retry sends d to the retry queue for its next attempt and acknowledges
// the original, or dead-letters it when its retries are used up.
func (k *Consumer) retry(d *Delivery, cause error) {
	done := d.Attempt - 1 // retries so far
	if done >= k.cfg.MaxRetries {
		k.deadLetter(d, fmt.Errorf("%w after %d retries: %w", shared.ErrRetryLimitExceeded, done, cause))
		return
	}
	delay := k.delays[done]
	pub := k.republish(d)
	pub.Headers[HeaderRetries] = int64(done + 1)
	pub.Headers[HeaderLastError] = truncate(cause.Error())
	if err := k.publish("", RetryQueue(k.cfg.Queue, delay), pub); err != nil {
		k.c.logWarn("amqp: could not schedule retry, requeueing", "queue", k.cfg.Queue, "error", err)
		if d.raw.Nack(false, true) == nil {
			k.stats.requeued.Add(1)
		}
		return
	}
	if d.raw.Ack(false) == nil {
		k.stats.retried.Add(1)
		k.metrics.EventRetried(k.cfg.Name, k.cfg.Queue)
	}
}

// deadLetter sends d with its reason to the dead letter and acknowledges
// the original. If the dead letter cannot be published the original is
// handed back to the broker rather than lost.
func (k *Consumer) deadLetter(d *Delivery, reason error) {
	pub := k.republish(d)
	pub.Headers[HeaderRetries] = int64(d.Attempt - 1)
	pub.Headers[HeaderDeadLetterReason] = truncate(reason.Error())
	pub.Headers[HeaderDeadLetteredFrom] = k.cfg.Queue
	pub.Headers[HeaderDeadLetteredAt] = time.Now().UTC().Truncate(time.Second)
	exchange, key := k.cfg.DeadLetterExchange, k.dlq
	if exchange != "" {
		key = d.RoutingKey
		if orig, ok := d.Headers[HeaderOriginalRoutingKey].(string); ok {
			key = orig
		}
	}
	if err := k.publish(exchange, key, pub); err != nil {
		k.c.logWarn("amqp: could not dead-letter, requeueing", "queue", k.cfg.Queue, "error", err)
		if d.raw.Nack(false, true) == nil {
			k.stats.requeued.Add(1)
		}
		return
	}
	if d.raw.Ack(false) == nil {
		k.stats.deadLettered.Add(1)
		k.metrics.EventDeadLettered(k.cfg.Name, k.cfg.Queue)
	}
}

// republish copies d as it arrived (body still compressed, if it was) for
// sending again.
func (k *Consumer) republish(d *Delivery) amqp091.Publishing {
	raw := d.raw
	h := make(Table, len(raw.Headers)+5)
	for key, v := range raw.Headers {
		h[key] = v
	}
	if _, ok := h[HeaderOriginalRoutingKey]; !ok {
		h[HeaderOriginalExchange] = raw.Exchange
		h[HeaderOriginalRoutingKey] = raw.RoutingKey
	}
	return amqp091.Publishing{
		Headers:         h,
		ContentType:     raw.ContentType,
		ContentEncoding: raw.ContentEncoding,
		DeliveryMode:    amqp091.Persistent,
		Priority:        raw.Priority,
		CorrelationId:   raw.CorrelationId,
		ReplyTo:         raw.ReplyTo,
		MessageId:       raw.MessageId,
		Timestamp:       raw.Timestamp,
		Type:            raw.Type,
		AppId:           raw.AppId,
		Body:            raw.Body,
	}
}

// publish sends pub on a pooled confirm channel and waits for the confirm.
func (k *Consumer) publish(exchange, key string, pub amqp091.Publishing) error {
	ctx, cancel := context.WithTimeout(k.hctx, DefaultPublishTimeout)
	defer cancel()
	pc, err := k.slot.borrow(ctx)
	if err != nil {
		return err
	}
	defer pc.release()
	return pc.publish(ctx, exchange, key, pub)
}

func truncate(s string) string {
	if len(s) <= DefaultReasonHeaderSize {
		return s
	}
	return s[:DefaultReasonHeaderSize] + "…"
}
