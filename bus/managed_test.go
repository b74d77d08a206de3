package bus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

var errTemporary = errors.New("temporary failure")

// The manager's dead-letter store reads the attempts of a bus dead letter
// through this interface.
var _ listener.AttemptCounter = (*bus.DeadLetterError)(nil)

// script fails the calls of an event that its fail function picks.
type script struct {
	id   string
	fail func(e shared.Event, call int) error
	mu   sync.Mutex
	log  []string // "id#call"
	per  map[string]int
}

func (s *script) ID() string { return s.id }
func (s *script) Handle(_ context.Context, e shared.Event) error {
	s.mu.Lock()
	if s.per == nil {
		s.per = map[string]int{}
	}
	s.per[e.ID()]++
	n := s.per[e.ID()]
	s.log = append(s.log, fmt.Sprintf("%s#%d", e.ID(), n))
	s.mu.Unlock()
	return s.fail(e, n)
}

func (s *script) calls(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.per[id]
}

// The seed 001 flow through the bus: a listener registered with a retry
// policy and a dead-letter handler is retried by the bus and, when its
// attempts run out, dead-lettered through the manager.
func TestSeedRetryAndDeadLetterThroughTheBus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		lm := listener.NewManager(listener.ManagerConfig{})
		dead := make(chan shared.Event, 4)
		handler := &script{id: "order-processor", fail: func(e shared.Event, call int) error {
			if e.ID() == "order-bad" {
				return fmt.Errorf("call %d: %w", call, errTemporary)
			}
			if call == 1 {
				return errTemporary // every other order fails once, then succeeds
			}
			return nil
		}}
		err := lm.Register(handler, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{
				MaxAttempts:    3,
				RetryCondition: func(err error) bool { return errors.Is(err, errTemporary) },
			},
			DeadLetter: listener.DeadLetterConfig{
				Enabled: true,
				Handler: func(event shared.Event, err error) { dead <- event },
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		b := bus.New(bus.Config{Listeners: lm})
		mustCreate(t, b, "orders", bus.TopicConfig{
			Partitions:  4,
			OrderingKey: func(e shared.Event) string { return e.Metadata()["customer_id"] },
			// The topic's own policy would give up after one attempt: the
			// registered listener's policy must win.
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 1},
		})
		mustSubscribe(t, b, "orders", handler)
		for _, id := range []string{"order-1", "order-bad", "order-2"} {
			mustPublish(t, b, "orders", shared.NewBaseEventWithMetadata(id, "order.created", nil, map[string]string{"customer_id": "c-1"}))
		}
		if err := b.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if got := <-dead; got.ID() != "order-bad" {
			t.Errorf("dead letter %q, want order-bad", got.ID())
		}
		if n := handler.calls("order-bad"); n != 3 {
			t.Errorf("order-bad attempted %d times, want MaxAttempts = 3", n)
		}
		// One key: strictly in publish order, retries included.
		want := []string{"order-1#1", "order-1#2", "order-bad#1", "order-bad#2", "order-bad#3", "order-2#1", "order-2#2"}
		if !slices.Equal(handler.log, want) {
			t.Errorf("calls %v, want %v", handler.log, want)
		}
		list, _ := lm.DeadLetters(ctx, listener.DeadLetterFilter{})
		if len(list) != 1 || list[0].Event.ID() != "order-bad" || !errors.Is(list[0].Err, errTemporary) {
			t.Errorf("manager's dead-letter store: %+v", list)
		} else if list[0].Attempts != 3 {
			t.Errorf("the stored dead letter records %d attempts, want the bus's 3", list[0].Attempts)
		}
		if st := b.Stats(); st.DeadLettered != 1 || st.Retried != 4 {
			t.Errorf("bus stats: dead-lettered %d retried %d", st.DeadLettered, st.Retried)
		}
		_ = lm.Stop(ctx)
	})
}

// An open breaker holds a key's events without using up their attempts,
// and delivers them in order once it closes.
func TestOpenCircuitHoldsEventsInOrderUntilItCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		lm := listener.NewManager(listener.ManagerConfig{})
		down := true
		var mu sync.Mutex
		l := &script{id: "flaky-downstream", fail: func(shared.Event, int) error {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return errTemporary
			}
			return nil
		}}
		_ = lm.Register(l, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 3, InitialDelay: 10 * time.Millisecond, Jitter: listener.JitterNone},
			Circuit:     listener.CircuitConfig{Enabled: true, FailureThreshold: 2, CoolDown: time.Second, SuccessThreshold: 1},
		})
		b := bus.New(bus.Config{Listeners: lm})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1, OrderingKey: func(e shared.Event) string { return "k" }})
		mustSubscribe(t, b, "t", l)
		for i := range 3 {
			mustPublish(t, b, "t", shared.NewBaseEvent(fmt.Sprint("e", i), "x", nil))
		}
		time.Sleep(30 * time.Millisecond) // two failures: the breaker opens
		synctest.Wait()
		if s := lm.Health().Listeners[0].Circuit; s != listener.CircuitOpen {
			t.Fatalf("breaker %v, want open", s)
		}
		mu.Lock()
		down = false
		mu.Unlock()
		if err := b.Shutdown(ctx); err != nil { // waits for the cool-down and the retries
			t.Fatal(err)
		}
		if st := b.Stats(); st.Processed != 3 || st.DeadLettered != 0 {
			t.Errorf("processed %d, dead-lettered %d: the open breaker used up attempts", st.Processed, st.DeadLettered)
		}
		want := []string{"e0#1", "e0#2", "e0#3", "e1#1", "e2#1"}
		if !slices.Equal(l.log, want) {
			t.Errorf("calls %v, want %v", l.log, want)
		}
		_ = lm.Stop(ctx)
	})
}

// A topic's HandlerTimeout overrun is the attempt's own failure for the
// listener manager, not its caller giving up: the manager's breaker counts
// it and opens.
func TestHandlerTimeoutsOpenTheManagersCircuitBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		lm := listener.NewManager(listener.ManagerConfig{})
		var mu sync.Mutex
		down := true
		var calls int
		l := shared.NewListener("slow-downstream", func(ctx context.Context, e shared.Event) error {
			mu.Lock()
			calls++
			stuck := down
			mu.Unlock()
			if stuck {
				<-ctx.Done() // until the topic's HandlerTimeout
				return ctx.Err()
			}
			return nil
		})
		if err := lm.Register(l, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 1},
			Circuit:     listener.CircuitConfig{Enabled: true, FailureThreshold: 2, CoolDown: time.Minute, SuccessThreshold: 1},
		}); err != nil {
			t.Fatal(err)
		}
		b := bus.New(bus.Config{Listeners: lm})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1, HandlerTimeout: 10 * time.Millisecond})
		mustSubscribe(t, b, "t", l)
		for i := range 5 {
			mustPublish(t, b, "t", shared.NewBaseEvent(fmt.Sprint("e", i), "x", nil))
		}
		time.Sleep(time.Second) // time for all five to time out, one after the other
		synctest.Wait()
		h := lm.Health().Listeners[0]
		if h.Circuit != listener.CircuitOpen {
			mu.Lock()
			t.Errorf("after %d calls that overran the topic's HandlerTimeout, the breaker (threshold 2) is %v, want open", calls, h.Circuit)
			mu.Unlock()
		}
		mu.Lock()
		if calls != 2 {
			t.Errorf("the handler was called %d times, want 2: the open breaker holds the rest", calls)
		}
		down = false
		mu.Unlock()
		if err := b.Shutdown(ctx); err != nil { // the cool-down passes, the held events go through
			t.Fatal(err)
		}
		if st := b.Stats(); st.DeadLettered != 2 || st.Processed != 3 {
			t.Errorf("dead-lettered/processed = %d/%d, want 2 timed out, 3 after the breaker closed", st.DeadLettered, st.Processed)
		}
		_ = lm.Stop(ctx)
	})
}
