package bus_test

import (
	"runtime"
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
		if s.Dropped[bus.DropNoSubscribers] != 1 || len(s.Dropped) != 8 {
			t.Errorf("Dropped = %v", s.Dropped)
		}
		ts := s.TopicStats["t"]
		if ts.Published != 3 || ts.Consumers != 2 || len(ts.QueueDepth) != 2 || ts.QueueDepth[0]+ts.QueueDepth[1] != 0 {
			t.Errorf("TopicStats[t] = %+v", ts)
		}
		// The topic has no dead letters enabled: the three events given up
		// are counted as dropped for that reason, not as dead letters.
		wantCalls := map[string]int{
			"emitted": 4, "handled": 3, "handled-failed": 6, "retried": 3, "dead": 0,
			"dropped:no_subscribers": 1, "dropped:dead_letter_disabled": 3,
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

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Removed subscribers and topics must not stay in memory until someone
// calls Stats: the bus keeps their counts, not their state (nor, through
// it, their partitions' buffers). Stats is called only at the end, to check
// that the counts survived.
func TestChurnKeepsMemoryBoundedWithoutStats(t *testing.T) {
	const limit = 16 << 20 // generous: under 1 MiB is normal, leaking costs 30 to 130 MiB
	t.Run("subscribing and unsubscribing", func(t *testing.T) {
		const cycles = 20_000
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 4})
		handled := make(chan struct{}, 1)
		before := heapInUse()
		for i := range cycles {
			sub := mustSubscribe(t, b, "t", shared.NewBaseListener("l", func(shared.Event) error {
				handled <- struct{}{}
				return nil
			}))
			if i%2 == 0 {
				// Half the cycles do some work first, so that a drainer
				// may still be leaving the lane when it is removed.
				mustPublish(t, b, "t", shared.NewBaseEvent(evID(i), "x", nil))
				<-handled
			}
			if err := sub.Unsubscribe(); err != nil {
				t.Fatal(err)
			}
		}
		grown := int64(heapInUse()) - int64(before)
		t.Logf("heap grew by %d KiB over %d cycles", grown>>10, cycles)
		if grown > limit {
			t.Errorf("heap grew by %d MiB over %d subscribe/unsubscribe cycles", grown>>20, cycles)
		}
		shutdown(t, b)
		if n := bus.RetiredLanes(b); n != 0 {
			t.Errorf("%d removed lanes still held after Shutdown", n)
		}
		s := b.Stats()
		if s.Published != cycles/2 || s.Delivered != cycles/2 || s.Processed != cycles/2 {
			t.Errorf("published/delivered/processed = %d/%d/%d, want %d each", s.Published, s.Delivered, s.Processed, cycles/2)
		}
	})
	t.Run("creating and deleting topics", func(t *testing.T) {
		const cycles = 500
		b := bus.New(bus.Config{})
		handled := make(chan struct{}, 1)
		// The pattern subscription attaches to every topic created: each
		// deletion removes a subscriber whose lanes read 256 KiB of buffers.
		if _, err := b.SubscribePattern("churn.*", shared.NewBaseListener("l", func(shared.Event) error {
			handled <- struct{}{}
			return nil
		})); err != nil {
			t.Fatal(err)
		}
		before := heapInUse()
		for i := range cycles {
			mustCreate(t, b, "churn.t", bus.TopicConfig{Partitions: 4})
			mustPublish(t, b, "churn.t", shared.NewBaseEvent(evID(i), "x", nil))
			<-handled
			if err := b.DeleteTopic("churn.t"); err != nil {
				t.Fatal(err)
			}
		}
		grown := int64(heapInUse()) - int64(before)
		t.Logf("heap grew by %d KiB over %d cycles", grown>>10, cycles)
		if grown > limit {
			t.Errorf("heap grew by %d MiB over %d create/delete cycles", grown>>20, cycles)
		}
		shutdown(t, b)
		s := b.Stats()
		if s.Published != cycles || s.Processed != cycles || s.Topics != 0 {
			t.Errorf("published/processed/topics = %d/%d/%d, want %d/%d/0", s.Published, s.Processed, s.Topics, cycles, cycles)
		}
	})
}
