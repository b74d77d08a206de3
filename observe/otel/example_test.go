package otel_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/novaevents/nova/emitter"
	novaotel "github.com/novaevents/nova/observe/otel"
	"github.com/novaevents/nova/shared"
)

func Example() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())

	tr := novaotel.New(novaotel.Options{TracerProvider: tp})
	em := tr.Emitter(emitter.New(emitter.Config{}))
	defer em.Shutdown(context.Background())
	em.Subscribe("order.created", shared.NewBaseListener("inventory", func(shared.Event) error { return nil }))
	_ = em.Emit(context.Background(), shared.NewBaseEvent("o-1", "order.created", nil))

	for _, s := range rec.Ended() {
		fmt.Println(s.Name(), s.SpanKind())
	}
	// Output:
	// process order.created consumer
	// send order.created producer
}
