package otel

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/novaevents/nova/observe/internal/attempts"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

const systemRabbitMQ = "rabbitmq"

// Publisher is an *amqp.Publisher whose PublishEvent and PublishEventAsync
// make producer spans. The trace context goes into the event's metadata,
// which the publisher sends as CloudEvents attributes: the
// cloudEvents_traceparent and cloudEvents_tracestate headers of the
// distributed-tracing extension (or cloudEvents:, with that prefix).
type Publisher struct {
	*amqp.Publisher
	t *Tracer
}

// Publisher wraps p.
func (t *Tracer) Publisher(p *amqp.Publisher) *Publisher { return &Publisher{p, t} }

// PublishEvent makes a producer span "send <exchange>" that ends with the
// broker's confirm.
func (p *Publisher) PublishEvent(ctx context.Context, exchange string, e shared.Event) error {
	return p.t.send(ctx, exchange, e, func(ctx context.Context) error { return p.Publisher.PublishEvent(ctx, exchange, e) })
}

// PublishEventAsync makes a producer span that ends once the publish is
// accepted, before its confirm.
func (p *Publisher) PublishEventAsync(ctx context.Context, exchange string, e shared.Event) (*amqp.Receipt, error) {
	var r *amqp.Receipt
	err := p.t.send(ctx, exchange, e, func(ctx context.Context) (err error) {
		r, err = p.Publisher.PublishEventAsync(ctx, exchange, e)
		return err
	})
	return r, err
}

func (t *Tracer) send(ctx context.Context, exchange string, e shared.Event, fn func(context.Context) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	dest := exchange
	if dest == "" {
		dest = "amq.default"
	}
	ctx, span := t.startProducer(ctx, systemRabbitMQ, dest, "publish", e,
		semconv.MessagingRabbitMQDestinationRoutingKey(typeOf(e)))
	err := fn(ctx)
	end(span, err)
	return err
}

// Handler wraps a RabbitMQ consumer's handler in a consumer span per
// delivery, "process <queue>", whose parent is the producer span in the
// message's trace context (the cloudEvents_traceparent header, or a plain
// traceparent header from other producers). The span carries the
// delivery's attempt (AttemptKey: 1, then one more per retry through the
// retry queues), the exchange, routing key, message ID and body size. A
// listener wrapped with Tracer.Listener inside it makes no second span.
//
//	consumer.Start(ctx, tracer.Handler(amqp.EventHandler(amqp.EventEncoding{}, l)))
func (t *Tracer) Handler(h amqp.Handler) amqp.Handler {
	return amqp.HandlerFunc(func(ctx context.Context, d *amqp.Delivery) (amqp.AckDecision, error) {
		if d == nil {
			return h.HandleDelivery(ctx, d)
		}
		// A retry comes back through the default exchange; name the
		// exchange the message was first published to.
		dest, key := d.Exchange, d.RoutingKey
		if orig, ok := d.HeaderString(amqp.HeaderOriginalExchange); ok {
			dest = orig
			key, _ = d.HeaderString(amqp.HeaderOriginalRoutingKey)
		}
		if dest == "" {
			dest = "amq.default"
		}
		ctx = t.prop.Extract(ctx, headerCarrier(d.Headers))
		ctx, span := t.tracer.Start(ctx, "process "+d.Queue,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				semconv.MessagingSystemRabbitMQ,
				semconv.MessagingOperationTypeProcess,
				semconv.MessagingOperationName("process"),
				semconv.MessagingDestinationName(dest),
				semconv.MessagingDestinationSubscriptionName(d.Queue),
				semconv.MessagingRabbitMQDestinationRoutingKey(key),
				semconv.MessagingMessageID(d.MessageID),
				semconv.MessagingMessageBodySize(len(d.Body)),
				attribute.Bool("messaging.rabbitmq.redelivered", d.Redelivered),
				AttemptKey.Int(d.Attempt),
			))
		ctx = withConsumed(attempts.WithAttempt(ctx, d.Attempt), d.MessageID)
		decision, err := h.HandleDelivery(ctx, d)
		end(span, err)
		return decision, err
	})
}

// headerCarrier reads the trace context from AMQP headers: the CloudEvents
// AMQP binding's "cloudEvents_" or "cloudEvents:" prefix first,
// then the bare key.
type headerCarrier amqp.Table

func (c headerCarrier) Get(key string) string {
	for _, k := range [...]string{"cloudEvents_" + key, "cloudEvents:" + key, key} {
		if v, ok := c[k]; ok {
			return amqp.FormatValue(v)
		}
	}
	return ""
}

func (c headerCarrier) Set(string, string) {}

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, strings.TrimPrefix(strings.TrimPrefix(k, "cloudEvents:"), "cloudEvents_"))
	}
	return keys
}
