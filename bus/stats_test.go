package bus_test

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// countingMetrics counts the hook's calls by method.
type countingMetrics struct {
	shared.NopMetrics
	mu    sync.Mutex
	calls map[string]int
}

func (m *countingMetrics) inc(k string) {
	m.mu.Lock()
	if m.calls == nil {
		m.calls = map[string]int{}
	}
	m.calls[k]++
	m.mu.Unlock()
}

func (m *countingMetrics) EventEmitted(string, string, error) { m.inc("emitted") }
func (m *countingMetrics) EventHandled(_, _, _ string, _ time.Duration, err error) {
	if err != nil {
		m.inc("handled-failed")
	} else {
		m.inc("handled")
	}
}
func (m *countingMetrics) EventDropped(_, reason string)    { m.inc("dropped:" + reason) }
func (m *countingMetrics) EventRetried(string, string)      { m.inc("retried") }
func (m *countingMetrics) EventDeadLettered(string, string) { m.inc("dead") }

func TestStatsAndMetricsCountEveryOutcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m countingMetrics
		b := bus.New(bus.Config{Metrics: &m})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 2, RetryPolicy: listener.RetryPolicy{MaxAttempts: 2}})
		mustCreate(t, b, "empty", bus.TopicConfig{})
		mustSubscribe(t, b, "t", &recorder{id: "ok"})
		mustSubscribe(t, b, "t", &recorder{id: "bad", fn: func(shared.Event) error { return errFlaky }})
		for i := range 3 {
			mustPublish(t, b, "t", shared.NewBaseEvent(evID(i), "x", nil))
		}
		mustPublish(t, b, "empty", shared.NewBaseEvent("e", "x", nil))
		shutdown(t, b)

		s := b.Stats()
		want := bus.Stats{Published: 4, Delivered: 6, Processed: 3, Failed: 6, Retried: 3, DeadLettered: 3, Topics: 2, Subscribers: 2}
		if s.Published != want.Published || s.Delivered != want.Delivered || s.Processed != want.Processed ||
			s.Failed != want.Failed || s.Retried != want.Retried || s.DeadLettered != want.DeadLettered ||
			s.Topics != want.Topics || s.Subscribers != want.Subscribers {
			t.Errorf("Stats = %+v\nwant    %+v", s, want)
		}
		if s.Dropped[bus.DropNoSubscribers] != 1 || len(s.Dropped) != 7 {
			t.Errorf("Dropped = %v", s.Dropped)
		}
		ts := s.TopicStats["t"]
		if ts.Published != 3 || ts.Consumers != 2 || len(ts.QueueDepth) != 2 || ts.QueueDepth[0]+ts.QueueDepth[1] != 0 {
			t.Errorf("TopicStats[t] = %+v", ts)
		}
		wantCalls := map[string]int{
			"emitted": 4, "handled": 3, "handled-failed": 6, "retried": 3, "dead": 3, "dropped:no_subscribers": 1,
		}
		for k, v := range wantCalls {
			if m.calls[k] != v {
				t.Errorf("metrics %s = %d, want %d (all: %v)", k, m.calls[k], v, m.calls)
			}
		}
	})
}

func TestStatsKeepCountsOfRemovedSubscribersAndTopics(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "t", bus.TopicConfig{})
	done := make(chan struct{}, 10)
	sub := mustSubscribe(t, b, "t", shared.NewBaseListener("l", func(shared.Event) error { done <- struct{}{}; return nil }))
	mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
	<-done
	_ = sub.Unsubscribe()
	if err := b.DeleteTopic("t"); err != nil {
		t.Fatal(err)
	}
	shutdown(t, b)
	s := b.Stats()
	if s.Published != 1 || s.Processed != 1 || s.Delivered != 1 || s.Topics != 0 || s.Subscribers != 0 {
		t.Fatalf("Stats = %+v, want the removed topic's counts kept", s)
	}
}

func TestPriorityFunctionsAreConsultedAndInvalidOnesIgnored(t *testing.T) {
	pool := workerpool.New(2, 64)
	defer pool.Close(t.Context())
	var mu sync.Mutex
	asked := 0
	b := newBus(t, bus.Config{WorkerPool: pool, Priority: func(shared.Event) workerpool.Priority {
		mu.Lock()
		asked++
		mu.Unlock()
		return workerpool.PriorityHigh
	}})
	mustCreate(t, b, "t", bus.TopicConfig{})
	mustCreate(t, b, "odd", bus.TopicConfig{Priority: func(shared.Event) workerpool.Priority { return 42 }})
	r := &recorder{id: "r"}
	mustSubscribe(t, b, "t", r)
	mustSubscribe(t, b, "odd", r)
	for i := range 10 {
		mustPublish(t, b, "t", shared.NewBaseEvent(evID(i), "x", nil))
		mustPublish(t, b, "odd", shared.NewBaseEvent(evID(i), "x", nil))
	}
	shutdown(t, b)
	if asked != 10 {
		t.Errorf("Config.Priority called %d times, want once per event of the topic without its own", asked)
	}
	if got := len(r.handled()); got != 20 {
		t.Errorf("handled %d, want 20 (an invalid priority falls back to normal)", got)
	}
}
