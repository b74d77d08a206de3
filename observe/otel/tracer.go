package otel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/novaevents/nova/observe/internal/attempts"
	"github.com/novaevents/nova/shared"
)

// Defaults used for zero Options fields.
const (
	// DefaultSystem is the messaging.system of in-process spans (emitter,
	// bus). RabbitMQ spans say "rabbitmq".
	DefaultSystem = "nova"
	// ScopeName is the instrumentation scope of Nova's spans.
	ScopeName = "github.com/novaevents/nova/observe/otel"
)

// Metadata keys carrying the W3C trace context. Over RabbitMQ they travel
// as the CloudEvents distributed-tracing extension (cloudEvents_traceparent
// and cloudEvents_tracestate headers).
const (
	TraceParentKey = "traceparent"
	TraceStateKey  = "tracestate"
)

// AttemptKey is the span attribute holding the attempt number of a
// consumer span: 1 for the first delivery, 2 for the first retry...
const AttemptKey = attribute.Key("nova.attempt")

// ListenerKey is the span attribute naming the listener of a consumer span.
const ListenerKey = attribute.Key("nova.listener.id")

// Options configures a Tracer. The zero value works, but uses no tracer
// provider: pass one.
type Options struct {
	// TracerProvider creates Nova's tracer. Default: a no-op provider
	// (nothing recorded; Nova never reads OpenTelemetry's global
	// provider, pass otel.GetTracerProvider() to use it).
	TracerProvider trace.TracerProvider
	// Propagator writes and reads the trace context in event metadata.
	// Default propagation.TraceContext{} (W3C traceparent, tracestate).
	Propagator propagation.TextMapPropagator
	// System is the messaging.system of in-process spans. Default
	// DefaultSystem.
	System string
}

// Tracer makes Nova's spans: producer spans around Emit, EmitAsync,
// Publish and RabbitMQ publishes, and consumer spans around each listener
// attempt, linked by the trace context the producer writes into the
// event's metadata. It is safe for concurrent use and starts no goroutine.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	system string
	tries  attempts.Table
}

// New returns a Tracer configured by opts.
func New(opts Options) *Tracer {
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	t := &Tracer{
		tracer: tp.Tracer(ScopeName),
		prop:   opts.Propagator,
		system: opts.System,
	}
	if t.prop == nil {
		t.prop = propagation.TraceContext{}
	}
	if t.system == "" {
		t.system = DefaultSystem
	}
	return t
}

// MetadataSetter is what an event needs for Inject to write into it;
// *shared.BaseEvent has it.
type MetadataSetter interface {
	SetMetadata(key, value string)
}

// Inject writes the trace context of ctx into e's metadata (traceparent,
// and tracestate when there is one). It reports false when e cannot take
// metadata (it has no SetMetadata method) or ctx carries no span. On an
// event already being delivered, SetMetadata replaces the metadata map
// atomically: a listener of the old value keeps what it read.
func (t *Tracer) Inject(ctx context.Context, e shared.Event) bool {
	s, ok := e.(MetadataSetter)
	if !ok || shared.IsNil(e) || !trace.SpanContextFromContext(ctx).IsValid() {
		return false
	}
	t.prop.Inject(ctx, eventCarrier{e, s})
	return true
}

// Extract returns ctx carrying the remote span context found in e's
// metadata, or ctx itself when there is none.
func (t *Tracer) Extract(ctx context.Context, e shared.Event) context.Context {
	if shared.IsNil(e) {
		return ctx
	}
	md := e.Metadata()
	if md[TraceParentKey] == "" {
		return ctx
	}
	return t.prop.Extract(ctx, propagation.MapCarrier(md))
}

type eventCarrier struct {
	e shared.Event
	s MetadataSetter
}

func (c eventCarrier) Get(key string) string { return c.e.Metadata()[key] }
func (c eventCarrier) Set(key, value string) {
	if c.e.Metadata()[key] != value {
		c.s.SetMetadata(key, value)
	}
}
func (c eventCarrier) Keys() []string {
	md := c.e.Metadata()
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	return keys
}

// Send starts a producer span named "send <destination>" for e, writes its
// context into e's metadata, calls send with the span's context, and ends
// the span with send's error. It is what the wrappers of this package do;
// use it for other ways of handing events over.
func (t *Tracer) Send(ctx context.Context, destination, operation string, e shared.Event, send func(context.Context) error, attrs ...attribute.KeyValue) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, span := t.startProducer(ctx, t.system, destination, operation, e, attrs...)
	err := send(ctx)
	end(span, err)
	return err
}

func (t *Tracer) startProducer(ctx context.Context, system, destination, operation string, e shared.Event, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	a := []attribute.KeyValue{
		semconv.MessagingSystemKey.String(system),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName(operation),
		semconv.MessagingDestinationName(destination),
	}
	if !shared.IsNil(e) {
		a = append(a, semconv.MessagingMessageID(e.ID()), semconv.CloudEventsEventID(e.ID()), semconv.CloudEventsEventType(e.Type()))
	}
	ctx, span := t.tracer.Start(ctx, "send "+destination,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(append(a, attrs...)...))
	t.Inject(ctx, e)
	return ctx, span
}

func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
	}
	span.End()
}

func errorType(err error) string {
	switch {
	case errors.Is(err, shared.ErrListenerPanic):
		return "panic"
	case errors.Is(err, shared.ErrTimeout):
		return "timeout"
	}
	return "error"
}
