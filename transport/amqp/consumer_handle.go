package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/shared"
)

// process runs the handler on one delivery and settles it. It reports
// false when the handler overran HandlerTimeout and was abandoned: the
// delivery was settled without it and another goroutine took this one's
// place in s, so the caller must return.
func (k *Consumer) process(s *session, raw *amqp091.Delivery) bool {
	k.stats.received.Add(1)
	k.stats.inFlight.Add(1)
	defer k.stats.inFlight.Add(-1)

	d := newDelivery(k.cfg.Queue, raw)
	if d.ContentEncoding == encodingGzip {
		var err error
		if d.Body, err = inflate(raw.Body, k.cfg.MaxDecompressedSize); err != nil {
			k.settle(d, DecideByError, err)
			return true
		}
	}
	start := time.Now()
	decision, owned, err := k.invoke(s, d)
	if !owned {
		return false
	}
	k.observe(d, time.Since(start), err)
	k.settle(d, decision, err)
	return true
}

// observe records one handler call's latency and outcome.
func (k *Consumer) observe(d *Delivery, took time.Duration, err error) {
	k.stats.latency.observe(took)
	k.metrics.EventHandled(k.cfg.Name, k.cfg.Queue, d.raw.Type, took, err)
	if mm, ok := k.metrics.(MessageMetrics); ok {
		mm.MessageConsumed(k.cfg.Name, k.cfg.Queue, len(d.raw.Body), took, err)
	}
}

// settle acknowledges, retries or dead-letters d as decision and err say.
func (k *Consumer) settle(d *Delivery, decision AckDecision, err error) {
	if err != nil {
		k.stats.failed.Add(1)
		if errors.Is(err, ErrMalformed) {
			k.stats.malformed.Add(1)
			k.c.logWarn("amqp: malformed message; dead-lettering it", "queue", k.cfg.Queue, "message_id", d.MessageID, "error", err)
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
		if d.raw.Ack(false) == nil {
			k.stats.acked.Add(1)
		}
	case Reject:
		k.deadLetter(d, errOr(err, "rejected by handler"))
	default: // NackRequeue, or a policy that returned something odd
		k.retry(d, errOr(err, "handler asked for a retry"))
	}
}

// handlerCall is one handler call under HandlerTimeout. Whoever comes
// first, the handler returning or the timeout, decides who settles the
// delivery.
type handlerCall struct {
	mu        sync.Mutex
	returned  bool
	abandoned bool
}

// invoke calls the handler with the handler timeout and turns a panic into
// a *shared.PanicError. owned is false when the timeout passed first: the
// delivery has been settled already (see overrun) and the results are to
// be dropped.
func (k *Consumer) invoke(s *session, d *Delivery) (decision AckDecision, owned bool, err error) {
	if k.cfg.HandlerTimeout <= 0 {
		decision, _, err = k.call(k.hctx, d)
		return decision, true, err
	}
	ctx, cancel := context.WithTimeout(k.hctx, k.cfg.HandlerTimeout)
	defer cancel()
	hc := &handlerCall{}
	stop := context.AfterFunc(ctx, func() { k.overrun(ctx, s, hc, d) })
	decision, panicked, err := k.call(ctx, d)
	stop()
	hc.mu.Lock()
	hc.returned = true
	abandoned := hc.abandoned
	hc.mu.Unlock()
	if abandoned {
		return decision, false, err
	}
	if !panicked && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		k.stats.timeouts.Add(1)
		return DecideByError, true, k.timeoutError()
	}
	return decision, true, err
}

// call runs the handler, recovering a panic.
func (k *Consumer) call(ctx context.Context, d *Delivery) (decision AckDecision, panicked bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			k.stats.panics.Add(1)
			decision, panicked, err = DecideByError, true, shared.NewPanicError(r)
		}
	}()
	decision, err = k.handler.HandleDelivery(ctx, d)
	return decision, false, err
}

func (k *Consumer) timeoutError() error {
	return &shared.TimeoutError{ListenerID: k.cfg.Name, Limit: k.cfg.HandlerTimeout}
}

// overrun runs when a handler call's context ends. If the deadline passed
// while the handler is still running, the handler is abandoned: a new
// goroutine, which inherits the stuck one's place in the session, settles
// the delivery as timed out and goes on taking deliveries. The stuck
// goroutine exits once its handler returns. A context cancelled because
// Stop gave up abandons nothing: the broker redelivers.
func (k *Consumer) overrun(ctx context.Context, s *session, hc *handlerCall, d *Delivery) {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return
	}
	hc.mu.Lock()
	if hc.returned {
		hc.mu.Unlock()
		return
	}
	hc.abandoned = true
	hc.mu.Unlock()
	k.stats.timeouts.Add(1)
	k.stats.abandoned.Add(1)
	k.c.logWarn("amqp: handler overran its timeout; settling its delivery without it",
		"queue", k.cfg.Queue, "timeout", k.cfg.HandlerTimeout)
	go func() {
		handedOver := false
		defer func() {
			if !handedOver {
				s.wg.Done()
			}
		}()
		k.observe(d, k.cfg.HandlerTimeout, k.timeoutError())
		k.settle(d, DecideByError, k.timeoutError())
		handedOver = true
		s.work() // from here on, work owns the count
	}()
}

func errOr(err error, text string) error {
	if err != nil {
		return err
	}
	return errors.New(text)
}

// Settling reads only d.raw and d.attempt, never what the handler can
// change: a handler abandoned after HandlerTimeout may still be running.

// retry sends d to the retry queue for its next attempt and acknowledges
// the original, or dead-letters it when its retries are used up.
func (k *Consumer) retry(d *Delivery, cause error) {
	done := d.attempt - 1 // retries so far
	if done >= k.maxRetries() {
		k.deadLetter(d, fmt.Errorf("%w after %d retries: %w", shared.ErrRetryLimitExceeded, done, cause))
		return
	}
	delay := k.delay(done + 1)
	pub := k.republish(d)
	pub.Headers[HeaderRetries] = int64(done + 1)
	pub.Headers[HeaderLastError] = truncate(cause.Error())
	if err := k.send("", RetryQueue(k.cfg.Queue, delay), pub); err != nil {
		k.handBack(d, "could not schedule retry", err)
		return
	}
	if d.raw.Ack(false) == nil {
		k.stats.retried.Add(1)
		k.metrics.EventRetried(k.cfg.Name, k.cfg.Queue)
	}
}

// deadLetter sends d with its reason to the dead letter and acknowledges
// the original. If the dead letter cannot be published the original is
// handed back to the broker rather than lost (see handBack).
func (k *Consumer) deadLetter(d *Delivery, reason error) {
	pub := k.republish(d)
	pub.Headers[HeaderRetries] = int64(d.attempt - 1)
	pub.Headers[HeaderDeadLetterReason] = truncate(reason.Error())
	pub.Headers[HeaderDeadLetteredFrom] = k.cfg.Queue
	pub.Headers[HeaderDeadLetteredAt] = time.Now().UTC().Truncate(time.Second)
	exchange, key := k.cfg.DeadLetterExchange, k.dlq
	if exchange == "" && !k.dlqDeclared.Load() {
		if err := k.declareDLQ(); err != nil {
			k.handBack(d, "could not declare the dead-letter queue", err)
			return
		}
	}
	if exchange != "" {
		key = d.raw.RoutingKey
		if orig, ok := d.raw.Headers[HeaderOriginalRoutingKey].(string); ok {
			key = orig
		}
	}
	if err := k.send(exchange, key, pub); err != nil {
		k.handBack(d, "could not dead-letter", err)
		return
	}
	if d.raw.Ack(false) == nil {
		k.stats.deadLettered.Add(1)
		k.metrics.EventDeadLettered(k.cfg.Name, k.cfg.Queue)
	}
}

// declareDLQ declares the default dead-letter queue the first time it is
// needed, and has the Client declare it again after reconnections.
func (k *Consumer) declareDLQ() error {
	ctx, cancel := context.WithTimeout(k.hctx, DefaultPublishTimeout)
	defer cancel()
	t := k.dlqTopology()
	if err := k.c.declareNow(ctx, t); err != nil {
		return err
	}
	k.c.addOwn(k, t)
	k.dlqDeclared.Store(true)
	return nil
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

// send publishes a retry or dead letter. When the broker says its
// destination is missing (a queue deleted behind the client's back makes a
// mandatory publish come back unroutable; a missing exchange is a 404), it
// declares the topology again and tries once more.
func (k *Consumer) send(exchange, key string, pub amqp091.Publishing) error {
	err := k.publish(exchange, key, pub)
	if err == nil {
		k.republishFailing.Store(0)
		return nil
	}
	if !errors.Is(err, ErrUnroutable) && !isNotFound(err) {
		return err
	}
	k.c.logWarn("amqp: retry or dead-letter destination missing; declaring the topology again",
		"queue", k.cfg.Queue, "exchange", exchange, "key", key, "error", err)
	ctx, cancel := context.WithTimeout(k.hctx, DefaultPublishTimeout)
	defer cancel()
	if rerr := k.c.redeclare(ctx); rerr != nil {
		return errors.Join(err, rerr)
	}
	if err = k.publish(exchange, key, pub); err == nil {
		k.republishFailing.Store(0)
	}
	return err
}

// handBack returns d to its queue after a retry or dead-letter publish
// failed. It first waits, longer with each failure in a row (the Client's
// Reconnect backoff, half jittered), so that a message whose retry cannot
// be published is not redelivered in a tight loop; Stop cuts the wait
// short.
func (k *Consumer) handBack(d *Delivery, what string, err error) {
	k.stats.republishFailures.Add(1)
	n := k.republishFailing.Add(1)
	wait := k.c.cfg.Reconnect.halfJittered(int(min(n, 64)))
	k.c.logWarn("amqp: "+what+"; handing the message back", "queue", k.cfg.Queue, "after", wait, "error", err)
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-k.stopping:
		t.Stop()
	}
	if d.raw.Nack(false, true) == nil {
		k.stats.requeued.Add(1)
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
