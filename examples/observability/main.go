// Observability: one flow (an emitter listener publishing to a bus topic
// whose subscriber fails once) with Prometheus metrics, OpenTelemetry spans
// and slog records, all printed at the end.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/observe/logging"
	novaotel "github.com/novaevents/nova/observe/otel"
	"github.com/novaevents/nova/observe/prom"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// printSpans prints each span as it ends.
type printSpans struct{}

func (printSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (printSpans) OnEnd(s sdktrace.ReadOnlySpan) {
	fmt.Printf("span  %-24s %-8s trace=%s… status=%s\n", s.Name(), s.SpanKind(), s.SpanContext().TraceID().String()[:8], s.Status().Code)
}
func (printSpans) Shutdown(context.Context) error   { return nil }
func (printSpans) ForceFlush(context.Context) error { return nil }

func main() {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	metrics, err := prom.New(prom.Options{Registerer: reg})
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(printSpans{}))
	defer tp.Shutdown(ctx)
	tracer := novaotel.New(novaotel.Options{TracerProvider: tp})
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logged := logging.Listener(logger, logging.Options{})

	pool := workerpool.New(4, 256, workerpool.WithMetrics(metrics))
	b := tracer.Bus(bus.New(bus.Config{WorkerPool: pool, Metrics: metrics}))
	em := tracer.Emitter(emitter.New(emitter.Config{WorkerPool: pool, Metrics: metrics}))
	for name, c := range map[string]any{"bus": b.Bus, "emitter": em.Emitter, "workerpool": pool} {
		_ = metrics.Watch(name, c)
	}

	if err := b.CreateTopic("payments", bus.TopicConfig{RetryPolicy: listener.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond}}); err != nil {
		log.Fatal(err)
	}
	tries := 0
	b.Subscribe("payments", logged(shared.NewBaseListener("charge", func(shared.Event) error {
		if tries++; tries == 1 {
			return errors.New("gateway busy")
		}
		return nil
	})))
	em.Subscribe("order.created", logged(shared.NewListener("checkout", func(ctx context.Context, e shared.Event) error {
		return b.Publish(ctx, "payments", shared.NewBaseEvent("pay-"+e.ID(), "payment.requested", nil))
	})))

	if err := em.Emit(ctx, shared.NewBaseEvent("o-1", "order.created", nil)); err != nil {
		log.Fatal(err)
	}
	_ = b.Shutdown(ctx) // settles the payment, retry included
	_ = em.Shutdown(ctx)
	_ = pool.Close(ctx)

	families, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	var text strings.Builder
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "nova_events_") || f.GetName() == "nova_queue_size" {
			_, _ = expfmt.MetricFamilyToText(&text, f)
		}
	}
	for _, line := range strings.Split(text.String(), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			fmt.Println("metric", line)
		}
	}
}
