package otel

import (
	"context"

	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/novaevents/nova/shared"
)

// Listener returns middleware that runs each attempt of a listener in a
// consumer span named "process <event type>", whose parent is the producer
// span found in the event's metadata (or the span already in ctx). The
// listener gets the span in its ctx. Each attempt is a span of its own with
// its number in AttemptKey, so retries show as sibling spans, the failed
// ones with an error status.
//
// The emitter and bus wrappers of this package (Tracer.Emitter, Tracer.Bus)
// apply it to the listeners subscribed through them.
func (t *Tracer) Listener() shared.ListenerMiddleware {
	return t.listener("")
}

func (t *Tracer) listener(destination string) shared.ListenerMiddleware {
	return func(next shared.Listener) shared.Listener {
		if shared.IsNil(next) {
			return next
		}
		id := next.ID()
		return shared.Wrap(next, func(ctx context.Context, e shared.Event) error {
			if ctx == nil {
				ctx = context.Background()
			}
			if shared.IsNil(e) || handledBy(ctx, e) {
				return next.Handle(ctx, e) // a RabbitMQ span covers it already
			}
			dest := destination
			if dest == "" {
				dest = e.Type()
			}
			n := t.tries.Start(ctx, id, e.ID())
			ctx, span := t.tracer.Start(t.Extract(ctx, e), "process "+dest,
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(
					semconv.MessagingSystemKey.String(t.system),
					semconv.MessagingOperationTypeProcess,
					semconv.MessagingOperationName("process"),
					semconv.MessagingDestinationName(dest),
					semconv.MessagingConsumerGroupName(id),
					semconv.MessagingMessageID(e.ID()),
					semconv.CloudEventsEventID(e.ID()),
					semconv.CloudEventsEventType(e.Type()),
					ListenerKey.String(id),
					AttemptKey.Int(n),
				))
			err := shared.SafeHandle(ctx, next, e)
			t.tries.Done(id, e.ID(), err != nil)
			end(span, err)
			return err
		})
	}
}

// consumed marks a context whose consumer span was started by Handler, for
// the message with this ID.
type consumedKey struct{}

func handledBy(ctx context.Context, e shared.Event) bool {
	id, ok := ctx.Value(consumedKey{}).(string)
	return ok && id == e.ID()
}

func withConsumed(ctx context.Context, messageID string) context.Context {
	return context.WithValue(ctx, consumedKey{}, messageID)
}
