package bus_test

import (
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// orderLog records, per key, the sequence numbers of the events handled.
type orderLog struct {
	mu    sync.Mutex
	byKey map[string][]int
}

func (o *orderLog) add(key string, seq int) {
	o.mu.Lock()
	if o.byKey == nil {
		o.byKey = map[string][]int{}
	}
	o.byKey[key] = append(o.byKey[key], seq)
	o.mu.Unlock()
}

func seqOf(e shared.Event) int {
	n, _ := strconv.Atoi(e.Metadata()["seq"])
	return n
}

func TestOnePartitionWithFourWorkersKeepsPerKeyOrder(t *testing.T) {
	const events, keys = 10_000, 37
	pool := workerpool.New(4, 64)
	defer pool.Close(t.Context())
	b := newBus(t, bus.Config{WorkerPool: pool})
	mustCreate(t, b, "orders", bus.TopicConfig{Partitions: 1, MaxConcurrency: 4, BufferSize: 256, OrderingKey: byKey})

	var log orderLog
	var g gauge
	// The first events of two different keys must meet: each waits for the
	// other, which only works if they run at the same time. The timer only
	// turns a lost concurrency into a failure instead of a hang.
	var meet sync.WaitGroup
	meet.Add(2)
	met := make(chan struct{})
	go func() { meet.Wait(); close(met) }()
	mustSubscribe(t, b, "orders", shared.NewBaseListener("l", func(e shared.Event) error {
		g.enter()
		defer g.leave()
		if s := seqOf(e); s == 0 || s == 1 {
			meet.Done()
			select {
			case <-met:
			case <-time.After(10 * time.Second):
				t.Errorf("the handler of event %d waited 10s for the other key's to run beside it", s)
			}
		}
		if seqOf(e)%7 == 0 {
			runtime.Gosched() // vary the handlers' durations
		}
		log.add(byKey(e), seqOf(e))
		return nil
	}))
	for i := range events {
		key := "cust-" + strconv.Itoa(i%keys)
		mustPublish(t, b, "orders", shared.NewBaseEventWithMetadata(evID(i), "order", nil,
			map[string]string{"key": key, "seq": strconv.Itoa(i)}))
	}
	shutdown(t, b)

	total := 0
	for key, seqs := range log.byKey {
		total += len(seqs)
		if !slices.IsSorted(seqs) {
			t.Fatalf("key %s handled out of order: %v", key, seqs[:min(len(seqs), 20)])
		}
	}
	if total != events {
		t.Fatalf("handled %d events, want %d", total, events)
	}
	_, most := g.read()
	t.Logf("handlers running at once: at most %d", most)
	if most > 4 {
		t.Fatalf("%d handlers ran at once, MaxConcurrency is 4", most)
	}
	if most < 2 {
		t.Fatalf("at most %d handler ran at once, want the two keys that met to have run together", most)
	}
}

func TestMaxConcurrencyIsHonoured(t *testing.T) {
	tests := []struct {
		name      string
		maxConc   int
		sameKey   bool
		wantAtMax int
	}{
		{"three distinct keys run at once under MaxConcurrency 3", 3, false, 3},
		{"the default runs one at a time", 0, false, 1},
		{"one key never runs twice at once", 3, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pool := workerpool.New(8, 64)
				b := bus.New(bus.Config{WorkerPool: pool})
				mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1, MaxConcurrency: tt.maxConc, OrderingKey: byKey})
				var g gauge
				release := make(chan struct{})
				mustSubscribe(t, b, "t", shared.NewBaseListener("l", func(shared.Event) error {
					g.enter()
					defer g.leave()
					<-release
					return nil
				}))
				for i := range 10 {
					key := evID(i)
					if tt.sameKey {
						key = "same"
					}
					mustPublish(t, b, "t", keyed(evID(i), key))
				}
				synctest.Wait() // every runnable handler has started and is blocked
				if cur, _ := g.read(); cur != tt.wantAtMax {
					t.Errorf("handlers running = %d, want %d", cur, tt.wantAtMax)
				}
				close(release)
				shutdown(t, b)
				if _, most := g.read(); most != tt.wantAtMax {
					t.Errorf("most handlers at once = %d, want %d", most, tt.wantAtMax)
				}
				_ = pool.Close(t.Context())
			})
		})
	}
}

func TestMaxConcurrencyIsPerPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := workerpool.New(16, 64)
		b := bus.New(bus.Config{WorkerPool: pool})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 4, MaxConcurrency: 2, OrderingKey: byKey})
		var g gauge
		release := make(chan struct{})
		mustSubscribe(t, b, "t", shared.NewBaseListener("l", func(shared.Event) error {
			g.enter()
			defer g.leave()
			<-release
			return nil
		}))
		// Three keys per partition.
		perPart := map[int]int{}
		for i := 0; len(perPart) < 4 || slices.Min(valuesOf(perPart)) < 3; i++ {
			key := "k" + strconv.Itoa(i)
			p := bus.PartitionFor(key, 4)
			if perPart[p] == 3 {
				continue
			}
			perPart[p]++
			mustPublish(t, b, "t", keyed(evID(i), key))
		}
		synctest.Wait()
		if cur, _ := g.read(); cur != 8 {
			t.Errorf("handlers running = %d, want 4 partitions × 2", cur)
		}
		close(release)
		shutdown(t, b)
		_ = pool.Close(t.Context())
	})
}

func valuesOf(m map[int]int) []int {
	var vs []int
	for _, v := range m {
		vs = append(vs, v)
	}
	return vs
}

func TestARetryHoldsBackOnlyItsOwnKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{
			Partitions: 1, OrderingKey: byKey,
			RetryPolicy: listener.RetryPolicy{InitialDelay: time.Second, Jitter: listener.JitterNone},
		})
		var mu sync.Mutex
		var order []string
		failedOnce := false
		mustSubscribe(t, b, "t", shared.NewBaseListener("l", func(e shared.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if e.ID() == "a1" && !failedOnce {
				failedOnce = true
				return errFlaky
			}
			order = append(order, e.ID())
			return nil
		}))
		for _, ev := range []struct{ id, key string }{{"a1", "a"}, {"a2", "a"}, {"b1", "b"}, {"b2", "b"}} {
			mustPublish(t, b, "t", keyed(ev.id, ev.key))
		}
		synctest.Wait()
		mu.Lock()
		if !slices.Equal(order, []string{"b1", "b2"}) {
			t.Errorf("while a1 waits for its retry, handled %v; want b1, b2 (and not a2)", order)
		}
		mu.Unlock()
		time.Sleep(time.Second)
		shutdown(t, b)
		if !slices.Equal(order, []string{"b1", "b2", "a1", "a2"}) {
			t.Errorf("handled %v, want a1 before a2", order)
		}
	})
}

func TestEventsWithoutKeyDoNotWaitForARetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{
			Partitions:  1,
			RetryPolicy: listener.RetryPolicy{InitialDelay: time.Second, Jitter: listener.JitterNone},
		})
		r := &recorder{id: "r"}
		failed := false
		r.fn = func(e shared.Event) error {
			if e.ID() == "1" && !failed {
				failed = true
				return errFlaky
			}
			return nil
		}
		mustSubscribe(t, b, "t", r)
		for i := 1; i <= 3; i++ {
			mustPublish(t, b, "t", shared.NewBaseEvent(strconv.Itoa(i), "x", nil))
		}
		shutdown(t, b)
		if got := r.handled(); !slices.Equal(got, []string{"2", "3", "1"}) {
			t.Errorf("handled %v, want the retried event last", got)
		}
	})
}
