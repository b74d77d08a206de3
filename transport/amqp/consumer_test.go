package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

func TestConsumerPoisonMessageIsDeadLetteredAfterMaxRetries(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 30*time.Second)
	var calls atomic.Int32
	var attempts []int
	seen := make(chan int, 16)
	metrics := &countingMetrics{}
	k := f.consumer(t, amqp.ConsumerConfig{MaxRetries: 3, RetryDelay: 20 * time.Millisecond, MaxRetryDelay: 40 * time.Millisecond, Metrics: metrics})
	err := k.Start(ctx, amqp.HandlerFunc(func(_ context.Context, d *amqp.Delivery) (amqp.AckDecision, error) {
		calls.Add(1)
		seen <- d.Attempt
		return amqp.DecideByError, errors.New("cannot process this one")
	}))
	if err != nil {
		t.Fatal(err)
	}
	p := f.publisher(t, amqp.PublisherConfig{})
	if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "poison", Body: []byte("boom"), MessageID: "m-1"}); err != nil {
		t.Fatal(err)
	}

	dead := getOne(t, f.dlq(), 20*time.Second)
	if string(dead.Body) != "boom" || dead.MessageId != "m-1" {
		t.Fatalf("dead letter %q (%q)", dead.Body, dead.MessageId)
	}
	reason, _ := dead.Headers[amqp.HeaderDeadLetterReason].(string)
	if !strings.Contains(reason, "retry limit exceeded after 3 retries") || !strings.Contains(reason, "cannot process this one") {
		t.Fatalf("reason %q", reason)
	}
	if dead.Headers[amqp.HeaderRetries] != int64(3) || dead.Headers[amqp.HeaderOriginalRoutingKey] != "poison" {
		t.Fatalf("headers %v", dead.Headers)
	}
	// Each retry passed through a TTL queue, which RabbitMQ records in x-death.
	d := &amqp.Delivery{Headers: dead.Headers}
	var expired int64
	for _, death := range d.Deaths() {
		if death.Reason == "expired" {
			expired += death.Count
		}
	}
	if expired != 3 {
		t.Fatalf("x-death records %d expirations: %+v", expired, d.Deaths())
	}

	// Stopping the consumer waits for everything it started: after that,
	// the count is final. A looping message would keep it growing.
	if err := k.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	close(seen)
	for a := range seen {
		attempts = append(attempts, a)
	}
	if fmt.Sprint(attempts) != "[1 2 3 4]" {
		t.Fatalf("handler saw attempts %v, want [1 2 3 4]", attempts)
	}
	for _, q := range []string{f.queue, amqp.RetryQueue(f.queue, 20*time.Millisecond), amqp.RetryQueue(f.queue, 40*time.Millisecond)} {
		if n := queueDepth(t, q); n != 0 {
			t.Fatalf("%s still holds %d messages", q, n)
		}
	}
	if st := k.Stats(); st.Retried != 3 || st.DeadLettered != 1 || st.Failed != 4 || st.Acked != 0 {
		t.Fatalf("stats %+v", st)
	}
	if metrics.retried.Load() != 3 || metrics.deadLettered.Load() != 1 || metrics.handled.Load() != 4 {
		t.Fatalf("metrics hook saw %d retries, %d dead letters, %d handler calls",
			metrics.retried.Load(), metrics.deadLettered.Load(), metrics.handled.Load())
	}
}

// countingMetrics counts what the consumer reports through shared.Metrics.
type countingMetrics struct {
	shared.NopMetrics
	handled, retried, deadLettered atomic.Int32
}

func (m *countingMetrics) EventHandled(string, string, string, time.Duration, error) {
	m.handled.Add(1)
}
func (m *countingMetrics) EventRetried(string, string)      { m.retried.Add(1) }
func (m *countingMetrics) EventDeadLettered(string, string) { m.deadLettered.Add(1) }

func TestConsumerFailuresOfEveryKindAreCounted(t *testing.T) {
	cases := []struct {
		name    string
		handler amqp.HandlerFunc
		reason  string
		check   func(amqp.ConsumerStats) bool
	}{
		{
			name: "a panic is recovered and counts as a failure",
			handler: func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
				panic("handler exploded")
			},
			reason: "panicked: handler exploded",
			check:  func(s amqp.ConsumerStats) bool { return s.Panics == 2 && s.Retried == 1 },
		},
		{
			name: "a handler past its timeout counts as a failure",
			handler: func(ctx context.Context, _ *amqp.Delivery) (amqp.AckDecision, error) {
				<-ctx.Done()
				return amqp.Ack, nil // too late: the deadline passed
			},
			reason: "timed out after 50ms",
			check:  func(s amqp.ConsumerStats) bool { return s.Timeouts == 2 && s.Retried == 1 },
		},
		{
			name: "a permanent error is dead-lettered without retries",
			handler: func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
				return amqp.DecideByError, shared.Permanent(errors.New("invalid order"))
			},
			reason: "invalid order",
			check:  func(s amqp.ConsumerStats) bool { return s.Retried == 0 },
		},
		{
			name: "an explicit Reject is dead-lettered at once",
			handler: func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
				return amqp.Reject, nil
			},
			reason: "rejected by handler",
			check:  func(s amqp.ConsumerStats) bool { return s.Retried == 0 && s.Failed == 0 },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := testCtx(t, 20*time.Second)
			k := f.consumer(t, amqp.ConsumerConfig{MaxRetries: 1, RetryDelay: 10 * time.Millisecond, HandlerTimeout: 50 * time.Millisecond})
			if err := k.Start(ctx, tc.handler); err != nil {
				t.Fatal(err)
			}
			p := f.publisher(t, amqp.PublisherConfig{})
			if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			dead := getOne(t, f.dlq(), 15*time.Second)
			if reason, _ := dead.Headers[amqp.HeaderDeadLetterReason].(string); !strings.Contains(reason, tc.reason) {
				t.Fatalf("reason %q, want it to contain %q", reason, tc.reason)
			}
			if err := k.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if st := k.Stats(); st.DeadLettered != 1 || !tc.check(st) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestConsumerDecodesHeadersOfEveryAMQPType(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 20*time.Second)
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	headers := amqp091.Table{
		"string":  "text",
		"bool":    true,
		"int8":    int8(-8),
		"int16":   int16(-16),
		"int32":   int32(-32),
		"int64":   int64(-64),
		"uint8":   uint8(8),
		"uint16":  uint16(16),
		"uint32":  uint32(32),
		"float32": float32(1.5),
		"float64": 2.25,
		"decimal": amqp091.Decimal{Scale: 2, Value: 12345},
		"bytes":   []byte("raw"),
		"time":    at,
		"nil":     nil,
		"array":   []any{"a", int32(1), []any{true}},
		"table":   amqp091.Table{"nested": amqp091.Table{"deep": int64(7)}},
		"x-death": []any{amqp091.Table{
			"count": int64(2), "reason": "rejected", "queue": "orders", "exchange": "ex",
			"routing-keys": []any{"order.created"}, "time": at,
		}},
		"cloudEvents:id":          "e-1",
		"cloudEvents:type":        "order.created",
		"cloudEvents:specversion": "1.0",
		"cloudEvents:time":        at, // the binding allows an AMQP timestamp
		"cloudEvents:priority":    int32(5),
		"cloudEvents:sampled":     true,
	}
	got := make(chan *amqp.Delivery, 1)
	events := make(chan shared.Event, 1)
	k := f.consumer(t, amqp.ConsumerConfig{})
	err := k.Start(ctx, amqp.HandlerFunc(func(_ context.Context, d *amqp.Delivery) (amqp.AckDecision, error) {
		e, err := amqp.EventEncoding{}.Decode(d)
		if err != nil {
			return amqp.Reject, err
		}
		got <- d
		events <- e
		return amqp.Ack, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	// Published by a plain amqp091 client, as another service would.
	ch := rawChannel(t)
	err = ch.PublishWithContext(ctx, f.exchange, "typed", false, false, amqp091.Publishing{
		Headers: headers, ContentType: "application/json", Body: []byte(`{"n":1}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	d := <-got
	e := <-events
	want := map[string]string{
		"string": "text", "bool": "true", "int8": "-8", "int16": "-16", "int32": "-32", "int64": "-64",
		"uint8": "8", "uint16": "16", "uint32": "32", "float32": "1.5", "float64": "2.25",
		"decimal": "123.45", "bytes": "raw", "time": "2024-05-06T07:08:09Z", "nil": "",
		"array": "[a 1 [true]]",
	}
	for key, w := range want {
		if s, ok := d.HeaderString(key); !ok || s != w {
			t.Errorf("header %s = %q (present %v), want %q", key, s, ok, w)
		}
	}
	if nested, _ := d.Headers["table"].(amqp091.Table)["nested"].(amqp091.Table); nested["deep"] != int64(7) {
		t.Errorf("nested table %v", d.Headers["table"])
	}
	deaths := d.Deaths()
	if len(deaths) != 1 || deaths[0].Count != 2 || deaths[0].Reason != "rejected" || deaths[0].Queue != "orders" ||
		!deaths[0].Time.Equal(at) || fmt.Sprint(deaths[0].RoutingKeys) != "[order.created]" {
		t.Errorf("x-death decoded as %+v", deaths)
	}
	if e.ID() != "e-1" || !e.Timestamp().Equal(at) || e.Metadata()["priority"] != "5" || e.Metadata()["sampled"] != "true" {
		t.Errorf("event %s at %v with %v", e.ID(), e.Timestamp(), e.Metadata())
	}
	if m, ok := e.Data().(map[string]any); !ok || m["n"] != 1.0 {
		t.Errorf("data %#v", e.Data())
	}
}

func TestConsumerStopFinishesHandlersInFlight(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 20*time.Second)
	started := make(chan struct{})
	release := make(chan struct{})
	var handled atomic.Int32
	k := f.consumer(t, amqp.ConsumerConfig{MaxConcurrentHandlers: 1, Prefetch: 5})
	err := k.Start(ctx, amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
		if handled.Add(1) == 1 {
			close(started)
			<-release
		}
		return amqp.Ack, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	p := f.publisher(t, amqp.PublisherConfig{})
	for range 5 {
		if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- k.Stop(ctx) }()
	<-amqp.StopRequested(k)
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a handler was running", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	// The running handler's message was acknowledged; the four prefetched
	// but unstarted ones went back to the queue.
	st := k.Stats()
	if st.Acked != 1 || handled.Load() != 1 {
		t.Fatalf("acked %d, handled %d", st.Acked, handled.Load())
	}
	if n := queueDepth(t, f.queue); n != 4 {
		t.Fatalf("queue holds %d, want the 4 unstarted messages", n)
	}
	if err := k.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := k.Start(ctx, amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) { return amqp.Ack, nil })); !errors.Is(err, amqp.ErrAlreadyStarted) {
		t.Fatalf("Start after Stop: %v", err)
	}
}
