// Package otel traces Nova's events with OpenTelemetry, in one process and
// across processes over RabbitMQ.
//
// A [Tracer] makes two kinds of spans, following OpenTelemetry's messaging
// semantic conventions (messaging.system, messaging.operation.type and
// .name, messaging.destination.name, messaging.message.id, and the
// CloudEvents event ID and type):
//
//   - a producer span, "send <destination>", around Emit, EmitAsync,
//     EmitBatch, bus Publish and RabbitMQ PublishEvent. Its context is
//     written into the event's metadata as W3C trace context
//     ("traceparent", "tracestate"), which the RabbitMQ transport sends as
//     the CloudEvents distributed-tracing extension (the
//     cloudEvents_traceparent and cloudEvents_tracestate headers);
//   - a consumer span, "process <destination>", around each listener
//     attempt, child of the producer span named in the event's metadata. The
//     listener gets it in its ctx. Each attempt is its own span carrying
//     its number (nova.attempt), so a retry shows as a second span beside
//     the failed one. RabbitMQ deliveries number their attempts from the
//     retry header; in-process attempts are numbered by the tracer itself,
//     which remembers recent failures per listener and event ID.
//
// Nothing is global: the TracerProvider and the propagator are Options
// (with no provider nothing is recorded; OpenTelemetry's global provider is
// used only if you pass it). The wrappers ([Tracer.Emitter], [Tracer.Bus],
// [Tracer.Publisher]) embed the component, so everything else about it is
// unchanged; [Tracer.Listener] is middleware for listeners registered some
// other way, and [Tracer.Handler] wraps a RabbitMQ consumer's handler.
// Events must have SetMetadata (a *shared.BaseEvent has) for the context
// to travel in them; others are still traced through ctx where ctx reaches
// the listener (synchronous Emit).
//
// The Tracer starts no goroutine and holds nothing that needs closing.
//
// # Example
//
//	tr := otel.New(otel.Options{TracerProvider: tp})
//	em := tr.Emitter(emitter.New(emitter.Config{}))
//	em.Subscribe("order.created", checkout)      // consumer spans
//	b := tr.Bus(bus.New(bus.Config{}))
//	pub := tr.Publisher(amqpPublisher)
//	err := em.Emit(ctx, order)                   // producer span, traceparent in metadata
//	err = b.Publish(ctx, "payments", payment)
//	err = pub.PublishEvent(ctx, "billing", charge)
//	// in another process:
//	consumer.Start(ctx, tr.Handler(amqp.EventHandler(amqp.EventEncoding{}, billing)))
package otel
