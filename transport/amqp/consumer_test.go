package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

func TestConsumerPoisonMessageIsDeadLetteredAfterMaxAttempts(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 30*time.Second)
	var calls atomic.Int32
	var attempts []int
	seen := make(chan int, 16)
	metrics := &countingMetrics{}
	k := f.consumer(t, amqp.ConsumerConfig{Metrics: metrics, Retry: amqp.RetryPolicy{MaxAttempts: 4, InitialDelay: 20 * time.Millisecond, MaxDelay: 40 * time.Millisecond}})
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
			k := f.consumer(t, amqp.ConsumerConfig{HandlerTimeout: 50 * time.Millisecond, Retry: amqp.RetryPolicy{MaxAttempts: 2, InitialDelay: 10 * time.Millisecond}})
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
	var stopReturned, sawStopReturned atomic.Bool
	k := f.consumer(t, amqp.ConsumerConfig{MaxConcurrentHandlers: 1, Prefetch: 5})
	err := k.Start(ctx, amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
		if handled.Add(1) == 1 {
			close(started)
			<-release // ignores ctx on purpose
			sawStopReturned.Store(stopReturned.Load())
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
	go func() {
		err := k.Stop(ctx)
		stopReturned.Store(true)
		stopped <- err
	}()
	<-amqp.StopRequested(k)
	// A second Stop waits for the first: with a short deadline it gives up
	// while the handler runs, whichever call gets there first.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := k.Stop(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop returned %v while a handler was running", err)
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if sawStopReturned.Load() {
		t.Fatal("Stop had returned before the running handler finished")
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

// signalHandler is a slog.Handler that signals each record with a given
// message: tests wait on what the library logs.
type signalHandler struct {
	msg string
	ch  chan<- struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalHandler) WithGroup(string) slog.Handler            { return h }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}

func TestConsumerStartGivesUpWhenStoppedMeanwhile(t *testing.T) {
	failures := make(chan struct{}, 1)
	f := newFixture(t, withConfig(func(c *amqp.Config) {
		c.Logger = slog.New(signalHandler{msg: "amqp: consume failed", ch: failures})
	}))
	ctx := testCtx(t, 30*time.Second)
	// Another consumer holds the queue, so an exclusive consume keeps
	// failing (ACCESS_REFUSED) and Start keeps retrying.
	if _, err := rawChannel(t).Consume(f.queue, "", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	k := f.consumer(t, amqp.ConsumerConfig{Exclusive: true})
	started := make(chan error, 1)
	go func() {
		started <- k.Start(testCtx(t, 20*time.Second), amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
			return amqp.Ack, nil
		}))
	}()
	select {
	case <-failures:
	case <-ctx.Done():
		t.Fatal("the exclusive consume never failed")
	}
	if err := k.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-started:
		if !errors.Is(err, amqp.ErrClosed) {
			t.Fatalf("Start returned %v, want ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("Start did not return after Stop")
	}
}

func TestConsumerDeclaresADeletedRetryQueueAgain(t *testing.T) {
	// One connection, so that no connection opening later (for the
	// publisher) declares the topology and hides the fault.
	f := newFixture(t, withConfig(func(c *amqp.Config) { c.MaxConnections = 1 }))
	ctx := testCtx(t, 30*time.Second)
	const delay = 20 * time.Millisecond
	k := f.consumer(t, amqp.ConsumerConfig{Retry: amqp.RetryPolicy{MaxAttempts: 3, InitialDelay: delay, MaxDelay: delay}})
	if err := k.Start(ctx, amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
		return amqp.DecideByError, errors.New("always fails")
	})); err != nil {
		t.Fatal(err)
	}
	// Deleted behind the client's back: the retry publish comes back
	// unroutable, and the consumer must not hand the message back in a
	// tight loop.
	if _, err := rawChannel(t).QueueDelete(amqp.RetryQueue(f.queue, delay), false, false, false); err != nil {
		t.Fatal(err)
	}
	p := f.publisher(t, amqp.PublisherConfig{})
	if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("poison")}); err != nil {
		t.Fatal(err)
	}
	dead := getOne(t, f.dlq(), 20*time.Second)
	if dead.Headers[amqp.HeaderRetries] != int64(2) {
		t.Fatalf("dead-lettered after %v retries", dead.Headers[amqp.HeaderRetries])
	}
	if err := k.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := k.Stats(); st.Retried != 2 || st.DeadLettered != 1 || st.RepublishFailures != 0 || st.Requeued != 0 {
		t.Fatalf("stats %+v", st)
	}
	if n := queueDepth(t, amqp.RetryQueue(f.queue, delay)); n != 0 {
		t.Fatalf("retry queue holds %d", n)
	}
}

func TestConsumerBacksOffWhenItCannotDeadLetter(t *testing.T) {
	f := newFixture(t) // Reconnect backoff: 20ms doubling up to 500ms
	ctx := testCtx(t, 30*time.Second)
	dlx := f.name + ".dlx"
	cleanupBroker(t, nil, []string{dlx})
	raw := rawChannel(t)
	if err := raw.ExchangeDeclare(dlx, "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	const calls = 6
	seen := make(chan struct{}, calls)
	var n atomic.Int32
	k := f.consumer(t, amqp.ConsumerConfig{DeadLetterExchange: dlx, MaxConcurrentHandlers: 1})
	if err := k.Start(ctx, amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
		if n.Add(1) <= calls {
			seen <- struct{}{}
		}
		return amqp.Reject, errors.New("poison")
	})); err != nil {
		t.Fatal(err)
	}
	// The dead-letter exchange disappears and is not part of the topology:
	// declaring it again cannot help, and every dead letter fails.
	if err := raw.ExchangeDelete(dlx, false, false); err != nil {
		t.Fatal(err)
	}
	p := f.publisher(t, amqp.PublisherConfig{})
	began := time.Now()
	if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("poison")}); err != nil {
		t.Fatal(err)
	}
	for range calls {
		select {
		case <-seen:
		case <-ctx.Done():
			t.Fatalf("handler called %d times", n.Load())
		}
	}
	took := time.Since(began)
	if err := k.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Each hand-back waits at least half of 20ms, 40ms, 80ms, 160ms, 320ms:
	// 310ms before the sixth delivery. A hot loop takes a few milliseconds.
	if took < 310*time.Millisecond {
		t.Fatalf("%d deliveries in %v: the message looped without backing off", calls, took)
	}
	if st := k.Stats(); st.RepublishFailures < calls-1 || st.Requeued < calls-1 || st.DeadLettered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConsumerAbandonsAHandlerThatIgnoresItsTimeout(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 30*time.Second)
	release, returned := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	attempts := make(chan int, 4)
	k := f.consumer(t, amqp.ConsumerConfig{HandlerTimeout: 50 * time.Millisecond, MaxConcurrentHandlers: 1, Retry: amqp.RetryPolicy{MaxAttempts: 2, InitialDelay: 10 * time.Millisecond}})
	if err := k.Start(ctx, amqp.HandlerFunc(func(_ context.Context, d *amqp.Delivery) (amqp.AckDecision, error) {
		attempts <- d.Attempt
		if d.Attempt == 1 {
			<-release // ignores ctx
			close(returned)
		}
		return amqp.Ack, nil
	})); err != nil {
		t.Fatal(err)
	}
	p := f.publisher(t, amqp.PublisherConfig{})
	if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("slow")}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{1, 2} {
		select {
		case got := <-attempts:
			if got != want {
				t.Fatalf("attempt %d, want %d", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("attempt %d never came: the stuck handler held the delivery", want)
		}
	}
	// The retry was handled while the first call was still stuck. Once
	// released, its late Ack must be dropped: the delivery is settled.
	releaseOnce.Do(func() { close(release) })
	<-returned
	for k.Stats().InFlight != 0 { // the abandoned goroutine is on its way out
		if ctx.Err() != nil {
			t.Fatal("abandoned handler never finished")
		}
		runtime.Gosched()
	}
	if err := k.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := k.Stats(); st.Timeouts != 1 || st.Abandoned != 1 || st.Retried != 1 || st.Acked != 1 || st.Received != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConsumerRunsHandlersInParallelUpToTheLimit(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 30*time.Second)
	const limit, total = 4, 12
	var running, peak, handled atomic.Int32
	gate, full, all := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var fullOnce, gateOnce sync.Once
	openGate := func() { gateOnce.Do(func() { close(gate) }) }
	t.Cleanup(openGate) // before the consumer stops, however the test ends
	k := f.consumer(t, amqp.ConsumerConfig{MaxConcurrentHandlers: limit, Prefetch: total})
	if err := k.Start(ctx, amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if n == limit {
			fullOnce.Do(func() { close(full) })
		}
		<-gate
		running.Add(-1)
		if handled.Add(1) == total {
			close(all)
		}
		return amqp.Ack, nil
	})); err != nil {
		t.Fatal(err)
	}
	p := f.publisher(t, amqp.PublisherConfig{})
	msgs := make([]amqp.Message, total)
	for i := range msgs {
		msgs[i] = amqp.Message{RoutingKey: "k"}
	}
	if err := p.PublishBatch(ctx, f.exchange, msgs); err != nil {
		t.Fatal(err)
	}
	select {
	case <-full: // limit handlers run at once: they are parallel
	case <-ctx.Done():
		t.Fatalf("only %d handlers ran at once", peak.Load())
	}
	// Every message has reached the client while the gate is shut: an
	// extra handler goroutine would have one to take.
	raw := rawChannel(t)
	for {
		q, err := raw.QueueDeclarePassive(f.queue, false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d messages never delivered", q.Messages)
		}
	}
	if n := running.Load(); n != limit {
		t.Fatalf("%d handlers running, limit %d", n, limit)
	}
	openGate()
	select {
	case <-all:
	case <-ctx.Done():
		t.Fatalf("handled %d of %d", handled.Load(), total)
	}
	if peak.Load() != limit {
		t.Fatalf("peak of %d handlers at once, limit %d", peak.Load(), limit)
	}
}
