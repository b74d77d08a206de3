package otel_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/observe/internal/rabbit"
	novaotel "github.com/novaevents/nova/observe/otel"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

var errFirst = errors.New("first attempt fails")

// traceparent is the W3C trace-context header: version 00, a 32-hex trace
// ID, a 16-hex parent ID, 2-hex flags; neither ID may be all zeros.
var traceparent = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)

func attr(s sdktrace.ReadOnlySpan, k string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == k {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// One trace runs from Emit, through a listener that publishes to a bus
// topic, through a bus subscriber that fails once and then publishes to
// RabbitMQ, to a consumer on another amqp.Client that fails once and
// succeeds on its retry.
func TestOneTraceFromEmitThroughTheBusAndRabbitMQ(t *testing.T) {
	rabbit.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	rec := tracetest.NewSpanRecorder()
	// Two providers, as two processes would have, recording to one place.
	tpA := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tpB := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tpA.Shutdown(context.Background())
	defer tpB.Shutdown(context.Background())
	trA := novaotel.New(novaotel.Options{TracerProvider: tpA})
	trB := novaotel.New(novaotel.Options{TracerProvider: tpB})

	name := rabbit.Name(t)
	ex, q := name+".x", name+".q"
	const retryDelay = 20 * time.Millisecond
	rabbit.Cleanup(t, []string{q, amqp.RetryQueue(q, retryDelay), q + ".dlq"}, []string{ex})
	topo := amqp.Topology{
		Exchanges: []amqp.Exchange{{Name: ex}},
		Queues:    []amqp.Queue{{Name: q}},
		Bindings:  []amqp.Binding{{Queue: q, Exchange: ex, Key: "#"}},
	}
	clientA, err := amqp.Dial(ctx, amqp.Config{URL: rabbit.URL(), Name: name + "-a", Topology: topo})
	if err != nil {
		t.Fatalf("Dial A: %v", err)
	}
	defer clientA.Close(ctx)
	clientB, err := amqp.Dial(ctx, amqp.Config{URL: rabbit.URL(), Name: name + "-b", Topology: topo})
	if err != nil {
		t.Fatalf("Dial B: %v", err)
	}
	defer clientB.Close(ctx)

	// Process B: a RabbitMQ consumer whose listener fails its first attempt.
	con, err := clientB.NewConsumer(amqp.ConsumerConfig{Queue: q, Retry: amqp.RetryPolicy{MaxAttempts: 3, InitialDelay: retryDelay}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wire []string
	var bTries int
	done := make(chan struct{})
	billing := shared.NewListener("billing", func(ctx context.Context, e shared.Event) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			t.Error("the RabbitMQ listener has no span in its ctx")
		}
		mu.Lock()
		defer mu.Unlock()
		if bTries++; bTries == 1 {
			return errFirst
		}
		close(done)
		return nil
	})
	onWire := amqp.HandlerFunc(func(ctx context.Context, d *amqp.Delivery) (amqp.AckDecision, error) {
		v, _ := d.HeaderString("cloudEvents_traceparent")
		mu.Lock()
		wire = append(wire, v)
		mu.Unlock()
		return amqp.EventHandler(amqp.EventEncoding{}, trB.Listener()(billing)).HandleDelivery(ctx, d)
	})
	if err := con.Start(ctx, trB.Handler(onWire)); err != nil {
		t.Fatalf("consumer Start: %v", err)
	}

	// Process A: emitter -> bus -> RabbitMQ.
	pub, err := clientA.NewPublisher(amqp.PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tpub := trA.Publisher(pub)
	b := trA.Bus(bus.New(bus.Config{}))
	if err := b.CreateTopic("payments", bus.TopicConfig{RetryPolicy: listener.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	var payTries int
	b.Subscribe("payments", shared.NewListener("charge", func(ctx context.Context, e shared.Event) error {
		if payTries++; payTries == 1 {
			return errFirst
		}
		return tpub.PublishEvent(ctx, ex, shared.NewBaseEvent("c-1", "payment.charged", map[string]int{"cents": 1200}))
	}))
	em := trA.Emitter(emitter.New(emitter.Config{}))
	em.Subscribe("order.created", shared.NewListener("checkout", func(ctx context.Context, e shared.Event) error {
		return b.Publish(ctx, "payments", shared.NewBaseEvent("p-1", "payment.requested", nil))
	}))
	order := shared.NewBaseEvent("o-1", "order.created", nil)
	if err := em.Emit(ctx, order); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("the RabbitMQ consumer did not succeed: %v", ctx.Err())
	}
	if err := con.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := em.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// In the order they started (the recorder's), as they ended.
	ended := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		ended[s.SpanContext().SpanID()] = s
	}
	var spans []sdktrace.ReadOnlySpan
	for _, s := range rec.Started() {
		if e, ok := ended[s.SpanContext().SpanID()]; ok {
			spans = append(spans, e)
		}
	}
	var lines []string
	for _, s := range spans {
		lines = append(lines, fmt.Sprintf("%s %s parent=%s attempt=%d status=%v", s.Name(), s.SpanKind(), s.Parent().SpanID(), attr(s, "nova.attempt").AsInt64(), s.Status().Code))
	}
	t.Logf("spans:\n%s", strings.Join(lines, "\n"))

	type want struct {
		name    string
		kind    trace.SpanKind
		parent  int // index in this list, -1 for the root
		system  string
		dest    string
		attempt int64
		failed  bool
	}
	wants := []want{
		{"send order.created", trace.SpanKindProducer, -1, "nova", "order.created", 0, false},
		{"process order.created", trace.SpanKindConsumer, 0, "nova", "order.created", 1, false},
		{"send payments", trace.SpanKindProducer, 1, "nova", "payments", 0, false},
		{"process payments", trace.SpanKindConsumer, 2, "nova", "payments", 1, true},
		{"process payments", trace.SpanKindConsumer, 2, "nova", "payments", 2, false},
		{"send " + ex, trace.SpanKindProducer, 4, "rabbitmq", ex, 0, false},
		{"process " + q, trace.SpanKindConsumer, 5, "rabbitmq", ex, 1, true},
		{"process " + q, trace.SpanKindConsumer, 5, "rabbitmq", ex, 2, false},
	}
	if len(spans) != len(wants) {
		t.Fatalf("%d spans, want %d", len(spans), len(wants))
	}
	traceID := spans[0].SpanContext().TraceID()
	for i, w := range wants {
		s := spans[i]
		if s.Name() != w.name || s.SpanKind() != w.kind {
			t.Errorf("span %d is %q %v, want %q %v", i, s.Name(), s.SpanKind(), w.name, w.kind)
		}
		if s.SpanContext().TraceID() != traceID {
			t.Errorf("span %d (%s) is in trace %s, want %s", i, s.Name(), s.SpanContext().TraceID(), traceID)
		}
		switch {
		case w.parent < 0 && s.Parent().IsValid():
			t.Errorf("root span %s has a parent", s.Name())
		case w.parent >= 0 && s.Parent().SpanID() != spans[w.parent].SpanContext().SpanID():
			t.Errorf("span %d (%s) has parent %s, want span %d (%s)", i, s.Name(), s.Parent().SpanID(), w.parent, spans[w.parent].Name())
		}
		if got := attr(s, "messaging.system").AsString(); got != w.system {
			t.Errorf("span %d messaging.system = %q, want %q", i, got, w.system)
		}
		if got := attr(s, "messaging.destination.name").AsString(); got != w.dest {
			t.Errorf("span %d messaging.destination.name = %q, want %q", i, got, w.dest)
		}
		op := "send"
		if w.kind == trace.SpanKindConsumer {
			op = "process"
		}
		if got := attr(s, "messaging.operation.type").AsString(); got != op {
			t.Errorf("span %d messaging.operation.type = %q, want %q", i, got, op)
		}
		if attr(s, "messaging.message.id").AsString() == "" {
			t.Errorf("span %d has no messaging.message.id", i)
		}
		if got := attr(s, "nova.attempt").AsInt64(); got != w.attempt {
			t.Errorf("span %d nova.attempt = %d, want %d", i, got, w.attempt)
		}
		if failed := s.Status().Code == codes.Error; failed != w.failed {
			t.Errorf("span %d failed = %v, want %v", i, failed, w.failed)
		}
	}
	if got := attr(spans[6], "messaging.rabbitmq.destination.routing_key").AsString(); got != "payment.charged" {
		t.Errorf("routing key attribute %q", got)
	}
	if got := attr(spans[6], "messaging.destination.subscription.name").AsString(); got != q {
		t.Errorf("subscription name %q, want %q", got, q)
	}

	// The trace context on the wire is valid W3C, names the RabbitMQ
	// producer span, and travels unchanged with the retry.
	if len(wire) != 2 {
		t.Fatalf("%d deliveries seen, want 2", len(wire))
	}
	for _, tp := range wire {
		m := traceparent.FindStringSubmatch(tp)
		if m == nil {
			t.Fatalf("traceparent %q is not W3C", tp)
		}
		if m[1] == strings.Repeat("0", 32) || m[2] == strings.Repeat("0", 16) {
			t.Errorf("traceparent %q has a zero ID", tp)
		}
		if m[1] != traceID.String() || m[2] != spans[5].SpanContext().SpanID().String() || m[3] != "01" {
			t.Errorf("traceparent %q, want trace %s, parent %s, sampled", tp, traceID, spans[5].SpanContext().SpanID())
		}
	}
	if order.Metadata()["traceparent"] == "" {
		t.Error("Emit did not write the trace context into the event's metadata")
	}
}
