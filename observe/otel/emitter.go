package otel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/trace"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/shared"
)

// Emitter is an *emitter.Emitter whose Emit, EmitAsync and EmitBatch make
// producer spans and whose Subscribe wraps listeners in consumer spans.
// Everything else is the embedded emitter's.
type Emitter struct {
	*emitter.Emitter
	t *Tracer
}

// Emitter wraps em.
func (t *Tracer) Emitter(em *emitter.Emitter) *Emitter { return &Emitter{em, t} }

// Emit makes a producer span "send <event type>" around em.Emit, which,
// being synchronous, includes the listeners' consumer spans.
func (e *Emitter) Emit(ctx context.Context, ev shared.Event) error {
	return e.t.Send(ctx, typeOf(ev), "emit", ev, func(ctx context.Context) error { return e.Emitter.Emit(ctx, ev) })
}

// EmitAsync makes a producer span around em.EmitAsync, which ends once the
// event is accepted; the consumer spans follow from the event's metadata.
func (e *Emitter) EmitAsync(ctx context.Context, ev shared.Event) error {
	return e.t.Send(ctx, typeOf(ev), "emit", ev, func(ctx context.Context) error { return e.Emitter.EmitAsync(ctx, ev) })
}

// EmitBatch makes one producer span per event, then emits them with
// em.EmitBatch.
func (e *Emitter) EmitBatch(ctx context.Context, events []shared.Event) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := validateAll(events); err != nil {
		return e.Emitter.EmitBatch(ctx, events) // it reports which one
	}
	spans := make([]trace.Span, len(events))
	for i, ev := range events {
		_, spans[i] = e.t.startProducer(ctx, e.t.system, ev.Type(), "emit", ev)
	}
	err := e.Emitter.EmitBatch(ctx, events)
	for _, span := range spans {
		end(span, err)
	}
	return err
}

// Subscribe subscribes l wrapped in consumer spans.
func (e *Emitter) Subscribe(eventType string, l shared.Listener) shared.Subscription {
	return e.Emitter.Subscribe(eventType, e.t.listener(eventType)(l))
}

// SubscribeE is Subscribe returning the emitter's error.
func (e *Emitter) SubscribeE(eventType string, l shared.Listener) (shared.Subscription, error) {
	return e.Emitter.SubscribeE(eventType, e.t.listener(eventType)(l))
}

// Bus is a *bus.Bus whose Publish makes producer spans and whose Subscribe
// methods wrap listeners in consumer spans named after the topic.
type Bus struct {
	*bus.Bus
	t *Tracer
}

// Bus wraps b.
func (t *Tracer) Bus(b *bus.Bus) *Bus { return &Bus{b, t} }

// Publish makes a producer span "send <topic>" around b.Publish, which
// ends once the event is accepted.
func (b *Bus) Publish(ctx context.Context, topic string, e shared.Event) error {
	return b.t.Send(ctx, topic, "publish", e, func(ctx context.Context) error { return b.Bus.Publish(ctx, topic, e) })
}

// Subscribe subscribes l wrapped in consumer spans.
func (b *Bus) Subscribe(topic string, l shared.Listener) shared.Subscription {
	return b.Bus.Subscribe(topic, b.t.listener(topic)(l))
}

// SubscribeE is Subscribe returning the bus's error.
func (b *Bus) SubscribeE(topic string, l shared.Listener) (shared.Subscription, error) {
	return b.Bus.SubscribeE(topic, b.t.listener(topic)(l))
}

// SubscribePattern subscribes l, wrapped in consumer spans, to the topics
// matching pattern.
func (b *Bus) SubscribePattern(pattern string, l shared.Listener) (shared.Subscription, error) {
	return b.Bus.SubscribePattern(pattern, b.t.listener("")(l))
}

// SubscribeGroup subscribes l, wrapped in consumer spans, to topic as a
// member of group.
func (b *Bus) SubscribeGroup(topic, group string, l shared.Listener) (shared.Subscription, error) {
	return b.Bus.SubscribeGroup(topic, group, b.t.listener(topic)(l))
}

func typeOf(e shared.Event) string {
	if shared.IsNil(e) {
		return ""
	}
	return e.Type()
}

func validateAll(events []shared.Event) error {
	var errs []error
	for _, e := range events {
		if err := shared.Validate(e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
