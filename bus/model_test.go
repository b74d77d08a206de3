package bus_test

import (
	"context"
	"errors"
	"hash/fnv"
	"math/rand/v2"
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

// model records what every subscriber of every topic saw, to check it
// against what the delivery modes promise.
type model struct {
	seed uint64

	mu        sync.Mutex
	attempts  map[string][]int // topic/subscriber/key → positions of every attempt, in start order
	successes map[string]int   // topic/subscriber/id → successful attempts
	dead      map[string]int   // topic/subscriber/id → dead letters
	running   map[string]int   // topic/subscriber/key → attempts running now
	tries     map[string]int   // topic/subscriber/id@position → attempts so far
	overlap   []string         // keys seen running twice at once
}

func newModel(seed uint64) *model {
	return &model{
		seed: seed, attempts: map[string][]int{}, successes: map[string]int{},
		dead: map[string]int{}, running: map[string]int{}, tries: map[string]int{},
	}
}

// fate decides, reproducibly for a seed, what an attempt does.
func (m *model) fate(sub, id string, attempt int) int {
	h := fnv.New64a()
	h.Write([]byte(sub + "/" + id + "/" + strconv.Itoa(attempt) + "/" + strconv.FormatUint(m.seed, 10)))
	return int(h.Sum64() % 100)
}

// listener returns the handler of subscriber sub (for a group: the group's
// name, shared by its members) on topic.
func (m *model) listener(topic, sub, id string) shared.Listener {
	return shared.NewListener(id, func(ctx context.Context, e shared.Event) error {
		key := topic + "/" + sub + "/" + e.Metadata()["key"]
		pos, _ := strconv.Atoi(e.Metadata()["pos"])
		m.mu.Lock()
		m.running[key]++
		if m.running[key] > 1 {
			m.overlap = append(m.overlap, key)
		}
		m.attempts[key] = append(m.attempts[key], pos)
		m.tries[topic+"/"+sub+"/"+e.ID()+"@"+e.Metadata()["pos"]]++
		n := m.tries[topic+"/"+sub+"/"+e.ID()+"@"+e.Metadata()["pos"]]
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			m.running[key]--
			m.mu.Unlock()
		}()

		switch f := m.fate(sub, e.ID(), n); {
		case f < 25:
			return errFlaky
		case f < 32:
			panic("model handler panics")
		case f < 36:
			<-ctx.Done() // overrun HandlerTimeout
			return ctx.Err()
		case f < 40:
			// Ignore the context, overrun HandlerTimeout and succeed: a
			// success all the same, never to be run again.
			time.Sleep(30 * time.Millisecond)
		}
		m.mu.Lock()
		m.successes[topic+"/"+sub+"/"+e.ID()]++
		m.mu.Unlock()
		return nil
	})
}

func (m *model) deadLetter(topic string) listener.DeadLetterConfig {
	return listener.DeadLetterConfig{Enabled: true, QueueSize: 100_000, Handler: func(e shared.Event, err error) {
		var dle *bus.DeadLetterError
		if !errors.As(err, &dle) {
			panic("dead letter without a *DeadLetterError: " + err.Error())
		}
		sub := dle.ListenerID
		if dle.Group != "" {
			sub = dle.Group
		}
		m.mu.Lock()
		m.dead[topic+"/"+sub+"/"+e.ID()]++
		m.mu.Unlock()
	}}
}

func TestRandomizedModel(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	synctest.Test(t, func(t *testing.T) {
		m := newModel(seed)
		pool := workerpool.New(8, 64)
		b := bus.New(bus.Config{WorkerPool: pool})
		topics := map[string]bus.DeliveryMode{"alo": bus.AtLeastOnce, "eo": bus.ExactlyOnce}
		subscribers := []string{"s1", "s2", "g"}
		for topic, mode := range topics {
			mustCreate(t, b, topic, bus.TopicConfig{
				Partitions: 4, MaxConcurrency: 3, BufferSize: 64, DeliveryMode: mode,
				OrderingKey:    byKey,
				HandlerTimeout: 20 * time.Millisecond,
				RetryPolicy:    listener.RetryPolicy{MaxAttempts: 4, InitialDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
				DeadLetter:     m.deadLetter(topic),
			})
			mustSubscribe(t, b, topic, m.listener(topic, "s1", "s1"))
			mustSubscribe(t, b, topic, m.listener(topic, "s2", "s2"))
			for _, member := range []string{"g-a", "g-b"} {
				if _, err := b.SubscribeGroup(topic, "g", m.listener(topic, "g", member)); err != nil {
					t.Fatal(err)
				}
			}
		}

		// Each publisher owns its keys, so publish order per key is its order.
		const publishers, perPublisher, keysEach = 6, 150, 4
		var wg sync.WaitGroup
		var pmu sync.Mutex
		published := map[string][]string{} // topic → IDs (with duplicates)
		for p := range publishers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(p)))
				pos := 0
				var last string
				for i := range perPublisher {
					for _, topic := range []string{"alo", "eo"} {
						id := "p" + strconv.Itoa(p) + "-" + strconv.Itoa(i)
						if topic == "eo" && last != "" && rng.IntN(5) == 0 {
							id = last // a duplicate of an earlier event
						}
						key := "k" + strconv.Itoa(p+publishers*rng.IntN(keysEach))
						pos++
						e := shared.NewBaseEventWithMetadata(id, "model", nil, map[string]string{"key": key, "pos": strconv.Itoa(pos)})
						if err := b.Publish(context.Background(), topic, e); err != nil {
							t.Errorf("Publish: %v", err)
							return
						}
						pmu.Lock()
						published[topic] = append(published[topic], id)
						pmu.Unlock()
						if topic == "eo" {
							last = id
						}
					}
				}
			}()
		}
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		_ = pool.Close(ctx)

		if len(m.overlap) > 0 {
			t.Errorf("one key ran twice at once: %v", m.overlap[:min(5, len(m.overlap))])
		}
		for key, pos := range m.attempts {
			for i := 1; i < len(pos); i++ {
				if pos[i] < pos[i-1] {
					t.Errorf("%s: attempt for position %d after position %d", key, pos[i], pos[i-1])
					break
				}
			}
		}
		for _, sub := range subscribers {
			for _, id := range uniq(published["alo"]) {
				k := "alo/" + sub + "/" + id
				if s, d := m.successes[k], m.dead[k]; s+d != 1 {
					t.Errorf("at-least-once %s: %d successes and %d dead letters, want exactly one of them", k, s, d)
				}
			}
			for _, id := range uniq(published["eo"]) {
				k := "eo/" + sub + "/" + id
				s, d := m.successes[k], m.dead[k]
				if s > 1 {
					t.Errorf("exactly-once %s handled successfully %d times", k, s)
				}
				if s+d == 0 {
					t.Errorf("exactly-once %s was neither handled nor dead-lettered", k)
				}
			}
		}
		st := b.Stats()
		if st.TotalDropped() != 0 {
			t.Errorf("dropped %v", st.Dropped)
		}
		if want := uint64(len(published["alo"]) + len(published["eo"])); st.Published != want {
			t.Errorf("Published = %d, want %d", st.Published, want)
		}
		if st.Delivered+st.DuplicatesSuppressed != 3*st.Published {
			t.Errorf("delivered %d + suppressed %d != 3 subscribers × %d published", st.Delivered, st.DuplicatesSuppressed, st.Published)
		}
		if st.Processed+st.DeadLettered != st.Delivered {
			t.Errorf("processed %d + dead-lettered %d != delivered %d", st.Processed, st.DeadLettered, st.Delivered)
		}
		t.Logf("published %d, delivered %d, processed %d, failed %d, retried %d, dead-lettered %d, duplicates %d",
			st.Published, st.Delivered, st.Processed, st.Failed, st.Retried, st.DeadLettered, st.DuplicatesSuppressed)
	})
}

func uniq(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
