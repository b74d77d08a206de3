package prom_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/observe/prom"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

var errBoom = errors.New("boom")

func newMetrics(t *testing.T, opts prom.Options) (*prometheus.Registry, *prom.Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	m, err := prom.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg, m
}

func TestInProcessTrafficIsCountedUnderTheSeedsNames(t *testing.T) {
	reg, m := newMetrics(t, prom.Options{TimeOneIn: 1}) // every attempt timed
	ctx := context.Background()
	pool := workerpool.New(2, 64, workerpool.WithMetrics(m), workerpool.WithName("pool"))
	em := emitter.New(emitter.Config{WorkerPool: pool, Metrics: m, Name: "emitter"})
	b := bus.New(bus.Config{WorkerPool: pool, Metrics: m, Name: "bus"})
	for name, c := range map[string]any{"emitter": em, "bus": b, "pool": pool} {
		if err := m.Watch(name, c); err != nil {
			t.Fatalf("Watch(%s): %v", name, err)
		}
	}

	// Emitter: four successful attempts, one failing, one refused event.
	em.Subscribe("order.created", shared.NewBaseListener("audit", func(e shared.Event) error {
		if e.ID() == "bad" {
			return errBoom
		}
		return nil
	}))
	for _, id := range []string{"o1", "o2", "bad"} {
		_ = em.Emit(ctx, shared.NewBaseEvent(id, "order.created", nil))
	}
	if err := em.Emit(ctx, nil); err == nil {
		t.Fatal("Emit(nil) succeeded")
	}
	for _, id := range []string{"a1", "a2"} {
		if err := em.EmitAsync(ctx, shared.NewBaseEvent(id, "order.created", nil)); err != nil {
			t.Fatalf("EmitAsync: %v", err)
		}
	}

	// Bus: p1 fails once then succeeds (a retry), p2 always fails (a retry,
	// then a dead letter), n1 goes to a topic nobody reads (a drop).
	retry := listener.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Millisecond, MaxDelay: time.Millisecond}
	dead := make(chan string, 1)
	for _, topic := range []string{"payments", "nobody"} {
		if err := b.CreateTopic(topic, bus.TopicConfig{Partitions: 1, RetryPolicy: retry, DeadLetter: listener.DeadLetterConfig{
			Enabled: true, Handler: func(e shared.Event, _ error) { dead <- e.ID() },
		}}); err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
	}
	var mu sync.Mutex
	tries := map[string]int{}
	b.Subscribe("payments", shared.NewBaseListener("charge", func(e shared.Event) error {
		mu.Lock()
		defer mu.Unlock()
		tries[e.ID()]++
		if e.ID() == "p2" || tries[e.ID()] == 1 {
			return errBoom
		}
		return nil
	}))
	for _, id := range []string{"p1", "p2"} {
		if err := b.Publish(ctx, "payments", shared.NewBaseEvent(id, "payment.requested", nil)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if err := b.Publish(ctx, "nobody", shared.NewBaseEvent("n1", "payment.ignored", nil)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := b.Publish(ctx, "missing", shared.NewBaseEvent("x1", "payment.lost", nil)); !errors.Is(err, bus.ErrTopicNotFound) {
		t.Fatalf("Publish to a missing topic: %v", err)
	}
	if got := <-dead; got != "p2" {
		t.Fatalf("dead letter %s, want p2", got)
	}

	// Pool: three tasks in the high lane, one of which panics.
	var tasks sync.WaitGroup
	tasks.Add(3)
	for i := range 3 {
		if err := pool.SubmitPriority(ctx, workerpool.PriorityHigh, func() {
			defer tasks.Done()
			if i == 2 {
				panic("task panic")
			}
		}); err != nil {
			t.Fatalf("SubmitPriority: %v", err)
		}
	}
	tasks.Wait()

	// Shutdown settles everything accepted, so every report has been made.
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("bus Shutdown: %v", err)
	}
	if err := em.Shutdown(ctx); err != nil {
		t.Fatalf("emitter Shutdown: %v", err)
	}
	if err := pool.Close(ctx); err != nil {
		t.Fatalf("pool Close: %v", err)
	}

	f := gather(t, reg)
	f.value(t, 5, "nova_events_emitted_total", "component=emitter", "type=order.created", "result=ok")
	f.value(t, 1, "nova_events_emitted_total", "component=emitter", "type=unknown", "result=error")
	f.value(t, 4, "nova_events_processed_total", "component=emitter", "listener=audit", "result=ok")
	f.value(t, 1, "nova_events_processed_total", "component=emitter", "listener=audit", "result=error")
	f.count(t, 5, "nova_event_duration_seconds", "component=emitter", "listener=audit")

	f.value(t, 2, "nova_events_emitted_total", "component=bus", "type=payment.requested", "result=ok")
	f.value(t, 1, "nova_events_emitted_total", "component=bus", "type=payment.ignored", "result=ok")
	f.value(t, 1, "nova_events_emitted_total", "component=bus", "type=payment.lost", "result=error")
	f.value(t, 1, "nova_events_processed_total", "component=bus", "listener=charge", "result=ok")
	f.value(t, 3, "nova_events_processed_total", "component=bus", "listener=charge", "result=error")
	f.count(t, 4, "nova_event_duration_seconds", "component=bus", "listener=charge")
	f.value(t, 2, "nova_events_retried_total", "component=bus", "listener=charge")
	f.value(t, 1, "nova_dead_letters_total", "component=bus", "listener=charge")
	f.value(t, 1, "nova_events_dropped_total", "component=bus", "reason=no_subscribers")

	f.count(t, 3, "nova_workerpool_task_run_seconds", "component=pool", "lane=high")
	f.count(t, 3, "nova_workerpool_task_wait_seconds", "component=pool", "lane=high")
	f.value(t, 1, "nova_workerpool_task_panics_total", "component=pool", "lane=high")
	if s := f.get(t, "nova_workerpool_task_run_seconds", "component=pool", "lane=normal"); s.count == 0 {
		t.Error("the emitter's and bus's drainer tasks were not timed")
	}

	f.value(t, 0, "nova_queue_size", "component=emitter", "queue=async")
	f.value(t, 0, "nova_queue_size", "component=bus", "queue=payments")
	f.value(t, 0, "nova_queue_size", "component=bus", "queue=nobody")
	for _, lane := range []string{"critical", "high", "normal", "low"} {
		f.value(t, 0, "nova_queue_size", "component=pool", "queue="+lane)
	}
	f.value(t, 0, "nova_in_flight", "component=pool")
	f.value(t, 0, "nova_in_flight", "component=emitter")

	f.labelNames(t, map[string][]string{
		"nova_events_emitted_total":         {"component", "type", "result"},
		"nova_events_processed_total":       {"component", "listener", "result"},
		"nova_event_duration_seconds":       {"component", "listener"},
		"nova_events_retried_total":         {"component", "listener"},
		"nova_dead_letters_total":           {"component", "listener"},
		"nova_events_dropped_total":         {"component", "reason"},
		"nova_workerpool_task_run_seconds":  {"component", "lane"},
		"nova_workerpool_task_wait_seconds": {"component", "lane"},
		"nova_workerpool_task_panics_total": {"component", "lane"},
		"nova_queue_size":                   {"component", "queue"},
		"nova_in_flight":                    {"component"},
		"nova_workerpool_workers":           {"component", "state"},
	})
	lint(t, reg)
}

func TestWatchedPoolGaugesAreReadAtScrapeTime(t *testing.T) {
	reg, m := newMetrics(t, prom.Options{})
	pool := workerpool.New(1, 8, workerpool.WithName("slow"))
	defer pool.Close(context.Background())
	if err := m.Watch("slow", pool); err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	var done sync.WaitGroup
	done.Add(4)
	_ = pool.Submit(context.Background(), func() { defer done.Done(); close(started); <-release })
	<-started
	for range 3 {
		_ = pool.Submit(context.Background(), func() { done.Done() })
	}
	f := gather(t, reg)
	f.value(t, 3, "nova_queue_size", "component=slow", "queue=normal")
	f.value(t, 1, "nova_in_flight", "component=slow")
	f.value(t, 1, "nova_workerpool_workers", "component=slow", "state=busy")
	f.value(t, 0, "nova_workerpool_workers", "component=slow", "state=idle")
	close(release)
	done.Wait()

	if err := m.Watch("slow", pool); !errors.Is(err, prom.ErrDuplicate) {
		t.Errorf("second Watch: %v, want ErrDuplicate", err)
	}
	if err := m.Watch("x", 42); !errors.Is(err, prom.ErrUnsupported) {
		t.Errorf("Watch(42): %v, want ErrUnsupported", err)
	}
	if err := m.Watch("", pool); !errors.Is(err, prom.ErrNoName) {
		t.Errorf("Watch with no name: %v, want ErrNoName", err)
	}
	if !m.Unwatch("slow") || m.Unwatch("slow") {
		t.Error("Unwatch did not report what was watched")
	}
	if n := len(gather(t, reg)["nova_queue_size"]); n != 0 {
		t.Errorf("%d queue series after Unwatch", n)
	}
}

func TestEventTypeLabelsAreMappedAndCapped(t *testing.T) {
	reg, m := newMetrics(t, prom.Options{
		MaxEventTypes: 2,
		MaxListeners:  1,
		EventType: func(typ string) string {
			if typ == "boom" {
				panic("mapping panicked")
			}
			if i := len(typ) - 3; i > 0 && typ[i:i+2] == ".v" {
				return typ[:i]
			}
			return typ
		},
	})
	for _, typ := range []string{"order.created.v1", "order.created.v2", "order.paid", "user.joined", "user.left", "", "boom"} {
		m.EventEmitted("e", typ, nil)
	}
	m.EventHandled("e", "first", "", time.Millisecond, nil)
	m.EventHandled("e", "second", "", time.Millisecond, nil)
	m.EventRetried("e", "third")
	f := gather(t, reg)
	f.value(t, 2, "nova_events_emitted_total", "component=e", "type=order.created", "result=ok")
	f.value(t, 1, "nova_events_emitted_total", "component=e", "type=order.paid", "result=ok")
	f.value(t, 3, "nova_events_emitted_total", "component=e", "type=other", "result=ok")
	f.value(t, 1, "nova_events_emitted_total", "component=e", "type=unknown", "result=ok")
	if n := len(f["nova_events_emitted_total"]); n != 8 { // 4 labels × ok/error
		t.Errorf("%d emitted series, want 8", n)
	}
	f.value(t, 1, "nova_events_processed_total", "component=e", "listener=first", "result=ok")
	f.value(t, 1, "nova_events_processed_total", "component=e", "listener=other", "result=ok")
	f.value(t, 1, "nova_events_retried_total", "component=e", "listener=other")
}

func TestNewRefusesBadOptions(t *testing.T) {
	if _, err := prom.New(prom.Options{}); !errors.Is(err, prom.ErrNoRegisterer) {
		t.Errorf("no Registerer: %v", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := prom.New(prom.Options{Registerer: reg, MaxEventTypes: -1}); !errors.Is(err, prom.ErrInvalidOptions) {
		t.Errorf("negative cap: %v", err)
	}
	if _, err := prom.New(prom.Options{Registerer: reg, DurationBuckets: []float64{1, 0.5}}); !errors.Is(err, prom.ErrInvalidOptions) {
		t.Errorf("decreasing buckets: %v", err)
	}
	if _, err := prom.New(prom.Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	var are prometheus.AlreadyRegisteredError
	if _, err := prom.New(prom.Options{Registerer: reg}); !errors.As(err, &are) {
		t.Errorf("second New on one registry: %v, want AlreadyRegisteredError", err)
	}
}

func TestReportsDoNotAllocate(t *testing.T) {
	_, m := newMetrics(t, prom.Options{})
	m.EventEmitted("emitter", "order.created", nil)
	m.EventHandled("emitter", "audit", "order.created", time.Microsecond, nil)
	m.TaskDone("pool", "normal", time.Microsecond, time.Microsecond, false)
	bound := m.BindAttempts("emitter", "audit")
	n := testing.AllocsPerRun(1000, func() {
		bound.Attempted(time.Microsecond, nil)
		m.EventEmitted("emitter", "order.created", nil)
		m.EventHandled("emitter", "audit", "order.created", time.Microsecond, nil)
		m.TaskDone("pool", "normal", time.Microsecond, time.Microsecond, false)
		m.EventRetried("emitter", "audit")
		m.EventDropped("emitter", "buffer_full")
	})
	if n != 0 {
		t.Errorf("%v allocations per report round, want 0", n)
	}
}

func TestHistogramBucketsAreInclusiveUpperBounds(t *testing.T) {
	reg, m := newMetrics(t, prom.Options{DurationBuckets: []float64{0.001, 0.01}})
	for _, d := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond} {
		m.EventHandled("c", "l", "t", d, nil)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "nova_event_duration_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		var got []uint64
		for _, b := range h.GetBucket() {
			got = append(got, b.GetCumulativeCount())
		}
		if len(got) != 2 || got[0] != 1 || got[1] != 2 || h.GetSampleCount() != 3 {
			t.Errorf("buckets %v count %d, want [1 2] 3", got, h.GetSampleCount())
		}
		if s := h.GetSampleSum(); s < 0.02599 || s > 0.02601 {
			t.Errorf("sum %v, want 0.026", s)
		}
		return
	}
	t.Fatal("no nova_event_duration_seconds")
}

func TestDurationsAreASampleAndCountsAreExact(t *testing.T) {
	reg, m := newMetrics(t, prom.Options{}) // DefaultTimeOneIn: one attempt in 8 is timed
	em := emitter.New(emitter.Config{Metrics: m})
	defer em.Shutdown(context.Background())
	em.Subscribe("order.created", shared.NewBaseListener("audit", func(shared.Event) error { return nil }))
	const n = 1600
	for i := range n {
		if err := em.Emit(context.Background(), shared.NewBaseEvent("e"+strconv.Itoa(i), "order.created", nil)); err != nil {
			t.Fatal(err)
		}
	}
	f := gather(t, reg)
	f.value(t, n, "nova_events_processed_total", "component=emitter", "listener=audit", "result=ok")
	// 200 expected; the bounds are more than ten standard deviations away.
	got := f.get(t, "nova_event_duration_seconds", "component=emitter", "listener=audit").count
	if got < 80 || got > 400 {
		t.Errorf("%d of %d attempts timed, want about one in %d", got, n, prom.DefaultTimeOneIn)
	}
}

func TestABoundListenerReportsToTheSameSeries(t *testing.T) {
	reg, m := newMetrics(t, prom.Options{})
	bound := m.BindAttempts("bus", "audit")
	bound.Attempted(time.Millisecond, nil)
	bound.Attempted(-1, errors.New("no")) // not timed
	m.EventHandled("bus", "audit", "order.created", time.Millisecond, nil)
	f := gather(t, reg)
	f.value(t, 2, "nova_events_processed_total", "component=bus", "listener=audit", "result=ok")
	f.value(t, 1, "nova_events_processed_total", "component=bus", "listener=audit", "result=error")
	if got := f.get(t, "nova_event_duration_seconds", "component=bus", "listener=audit").count; got != 2 {
		t.Errorf("%d durations observed, want the 2 timed attempts", got)
	}
}
