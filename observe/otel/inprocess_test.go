package otel_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/novaevents/nova/emitter"
	novaotel "github.com/novaevents/nova/observe/otel"
	"github.com/novaevents/nova/shared"
)

func newRecorder(t *testing.T) (*tracetest.SpanRecorder, *novaotel.Tracer) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return rec, novaotel.New(novaotel.Options{TracerProvider: tp})
}

func TestEmitAsyncConsumerSpanContinuesFromTheMetadata(t *testing.T) {
	rec, tr := newRecorder(t)
	em := tr.Emitter(emitter.New(emitter.Config{}))
	done := make(chan trace.SpanContext, 1)
	em.Subscribe("user.joined", shared.NewListener("welcome", func(ctx context.Context, _ shared.Event) error {
		done <- trace.SpanContextFromContext(ctx)
		return nil
	}))
	ev := shared.NewBaseEvent("u-1", "user.joined", nil)
	if err := em.EmitAsync(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	inListener := <-done
	if err := em.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	producer, consumer := spans[0], spans[1]
	if producer.SpanKind() != trace.SpanKindProducer {
		producer, consumer = consumer, producer
	}
	if consumer.Parent().SpanID() != producer.SpanContext().SpanID() || consumer.SpanContext().TraceID() != producer.SpanContext().TraceID() {
		t.Error("the async consumer span does not continue the producer's trace")
	}
	if inListener.SpanID() != consumer.SpanContext().SpanID() {
		t.Error("the listener's ctx does not carry its consumer span")
	}
	if got := ev.Metadata()[novaotel.TraceParentKey]; got == "" {
		t.Error("no traceparent in the metadata")
	}
}

// plainEvent cannot take metadata.
type plainEvent struct{ shared.Event }

func TestEventsWithoutSetMetadataAreTracedThroughTheContext(t *testing.T) {
	rec, tr := newRecorder(t)
	em := tr.Emitter(emitter.New(emitter.Config{}))
	defer em.Shutdown(context.Background())
	em.Subscribe("a.b", shared.NewBaseListener("l", func(shared.Event) error { return errors.New("no") }))
	ev := plainEvent{shared.NewBaseEvent("1", "a.b", nil)}
	if tr.Inject(context.Background(), ev) {
		t.Error("Inject reported success on an event without SetMetadata")
	}
	if err := em.Emit(context.Background(), ev); err == nil {
		t.Fatal("the listener's error was lost")
	}
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Parent().SpanID() != spans[1].SpanContext().SpanID() {
		t.Fatalf("want a consumer span inside the producer span, got %d spans", len(spans))
	}
	for _, s := range spans {
		if s.Status().Code != codes.Error {
			t.Errorf("%s status %v, want Error", s.Name(), s.Status().Code)
		}
	}
}

func TestNilEventsAndADefaultTracerDoNotPanic(t *testing.T) {
	tr := novaotel.New(novaotel.Options{})
	em := tr.Emitter(emitter.New(emitter.Config{}))
	defer em.Shutdown(context.Background())
	if err := em.Emit(context.Background(), nil); !errors.Is(err, shared.ErrInvalidEvent) {
		t.Errorf("Emit(nil): %v", err)
	}
	if err := em.EmitBatch(context.Background(), []shared.Event{nil}); !errors.Is(err, shared.ErrInvalidEvent) {
		t.Errorf("EmitBatch([nil]): %v", err)
	}
	if ctx := tr.Extract(context.Background(), nil); ctx == nil {
		t.Error("Extract(nil) returned no context")
	}
	var l shared.Listener
	if tr.Listener()(l) != nil {
		t.Error("wrapping a nil listener made a non-nil one")
	}
}

func TestMiddlewareCarriesTheCallersSpanToWrappedListeners(t *testing.T) {
	rec, tr := newRecorder(t)
	em := emitter.New(emitter.Config{})
	defer em.Shutdown(context.Background())
	em.Middleware(tr.Middleware())
	got := make(chan trace.SpanContext, 1)
	em.Subscribe("a.b", tr.Listener()(shared.NewListener("l", func(ctx context.Context, _ shared.Event) error {
		got <- trace.SpanContextFromContext(ctx)
		return nil
	})))
	ctx, caller := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("app").Start(context.Background(), "request")
	if err := em.EmitAsync(ctx, shared.NewBaseEvent("1", "a.b", nil)); err != nil {
		t.Fatal(err)
	}
	sc := <-got
	caller.End()
	if sc.TraceID() != caller.SpanContext().TraceID() {
		t.Error("the listener's span is not in the caller's trace")
	}
}
