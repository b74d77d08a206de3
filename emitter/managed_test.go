package emitter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

var errTemporary = errors.New("temporary failure")

// flaky fails its first `failures` calls per event with errTemporary.
type flaky struct {
	id       string
	failures int
	mu       sync.Mutex
	calls    map[string]int
	at       map[string][]time.Time
}

func newFlaky(id string, failures int) *flaky {
	return &flaky{id: id, failures: failures, calls: map[string]int{}, at: map[string][]time.Time{}}
}

func (f *flaky) ID() string { return f.id }
func (f *flaky) Handle(_ context.Context, e shared.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[e.ID()]++
	f.at[e.ID()] = append(f.at[e.ID()], time.Now())
	if f.calls[e.ID()] <= f.failures {
		return fmt.Errorf("call %d: %w", f.calls[e.ID()], errTemporary)
	}
	return nil
}

func (f *flaky) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

// The seed 001 flow: a listener registered with a retry policy and a dead
// letter handler, subscribed to an emitter whose Config names the manager.
func TestSeedRetryAndDeadLetterThroughTheEmitter(t *testing.T) {
	for _, async := range []bool{false, true} {
		mode := "sync Emit"
		if async {
			mode = "EmitAsync"
		}
		t.Run(mode+" retries a failing listener then dead-letters it", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				lm := listener.NewManager(listener.ManagerConfig{})
				dead := make(chan shared.Event, 4)
				handler := newFlaky("order-processor", 100) // never succeeds
				recovering := newFlaky("mailer", 2)         // succeeds on the third attempt
				for _, l := range []*flaky{handler, recovering} {
					err := lm.Register(l, listener.ListenerConfig{
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
				}
				em := emitter.New(emitter.Config{Listeners: lm})
				em.Subscribe("order.created", handler)
				em.Subscribe("order.created", recovering)
				start := time.Now()
				ev := shared.NewBaseEvent("order-123", "order.created", nil)
				var err error
				if async {
					err = em.EmitAsync(ctx, ev)
				} else {
					err = em.Emit(ctx, ev)
					if !errors.Is(err, shared.ErrRetryLimitExceeded) || !errors.Is(err, errTemporary) {
						t.Errorf("Emit = %v, want the exhausted retries of order-processor", err)
					}
				}
				if async && err != nil {
					t.Fatal(err)
				}
				if err := em.Shutdown(ctx); err != nil { // waits for the retries
					t.Fatal(err)
				}
				if got := <-dead; got.ID() != "order-123" {
					t.Errorf("dead letter %q", got.ID())
				}
				if n := handler.count("order-123"); n != 3 {
					t.Errorf("order-processor called %d times, want MaxAttempts = 3", n)
				}
				if n := recovering.count("order-123"); n != 3 {
					t.Errorf("mailer called %d times, want 3 (two failures, one success)", n)
				}
				// Two backoff waits happened between the three attempts.
				at := handler.at["order-123"]
				if len(at) == 3 && (at[1].Sub(at[0]) <= 0 || at[2].Sub(at[1]) <= 0) {
					t.Errorf("attempts not spaced by backoff: %v", at)
				}
				_ = start
				if err := lm.Stop(ctx); err != nil {
					t.Fatal(err)
				}
				select {
				case e := <-dead:
					t.Errorf("mailer recovered, yet %q was dead-lettered twice", e.ID())
				default:
				}
			})
		})
	}
}

func TestAsyncRetriesDoNotHoldAPoolWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		lm := listener.NewManager(listener.ManagerConfig{})
		slow := newFlaky("slow-to-recover", 1)
		_ = lm.Register(slow, listener.ListenerConfig{RetryPolicy: listener.RetryPolicy{
			MaxAttempts: 2, InitialDelay: time.Hour, Jitter: listener.JitterNone,
		}})
		em := emitter.New(emitter.Config{Listeners: lm, MaxConcurrency: 1})
		em.Subscribe("a", slow)
		var other atomic.Int32
		em.Subscribe("b", shared.NewBaseListener("other", func(shared.Event) error { other.Add(1); return nil }))
		_ = em.EmitAsync(ctx, shared.NewBaseEvent("1", "a", nil))
		for i := range 10 {
			_ = em.EmitAsync(ctx, shared.NewBaseEvent(fmt.Sprint("b", i), "b", nil))
		}
		// With one drainer, a backoff waited inside the worker would hold
		// every "b" event for an hour.
		synctest.Wait()
		if n := other.Load(); n != 10 {
			t.Errorf("%d of 10 other events handled while a retry waits", n)
		}
		if err := em.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if n := slow.count("1"); n != 2 {
			t.Errorf("retried listener called %d times, want 2", n)
		}
		_ = lm.Stop(ctx)
	})
}

func TestUnregisteredListenersAreCalledOnceEvenWithAManager(t *testing.T) {
	lm := listener.NewManager(listener.ManagerConfig{})
	defer lm.Stop(context.Background())
	em := newEmitter(t, emitter.Config{Listeners: lm})
	f := newFlaky("plain", 5)
	em.Subscribe("x", f)
	if err := em.Emit(context.Background(), shared.NewBaseEvent("1", "x", nil)); !errors.Is(err, errTemporary) {
		t.Errorf("err = %v", err)
	}
	if n := f.count("1"); n != 1 {
		t.Errorf("called %d times, want 1", n)
	}
}

func TestStoppedManagerDoesNotHangShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		lm := listener.NewManager(listener.ManagerConfig{})
		f := newFlaky("f", 100)
		_ = lm.Register(f, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 5, InitialDelay: time.Hour},
			DeadLetter:  listener.DeadLetterConfig{Enabled: true},
		})
		em := emitter.New(emitter.Config{Listeners: lm})
		em.Subscribe("x", f)
		_ = em.EmitAsync(ctx, shared.NewBaseEvent("1", "x", nil))
		synctest.Wait() // first attempt failed, retry scheduled an hour out
		stopCtx, cancel := context.WithCancel(ctx)
		cancel()
		_ = lm.Stop(stopCtx) // wrong order, out of time: the retry is abandoned
		if err := em.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		list, _ := lm.DeadLetters(ctx, listener.DeadLetterFilter{})
		if len(list) != 1 {
			t.Errorf("%d dead letters, want the abandoned event", len(list))
		}
	})
}

// Emit with managed listeners: every listener gets its first attempt before
// any listener is retried, and the retries of different listeners wait out
// their backoffs side by side, not one after another.
func TestEmitRetriesOfOneManagedListenerDoNotDelayTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		lm := listener.NewManager(listener.ManagerConfig{})
		policy := listener.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Hour, MaxDelay: time.Hour, Jitter: listener.JitterNone}
		broken := newFlaky("broken", 100)       // fails both attempts
		recovering := newFlaky("recovering", 1) // fails once, then succeeds
		healthy := newFlaky("healthy", 0)
		for _, l := range []*flaky{broken, recovering, healthy} {
			if err := lm.Register(l, listener.ListenerConfig{RetryPolicy: policy}); err != nil {
				t.Fatal(err)
			}
		}
		em := emitter.New(emitter.Config{Listeners: lm})
		// The failing listeners come first: run one after another, their
		// backoffs would hold the healthy one back by two hours.
		em.Subscribe("order.created", broken)
		em.Subscribe("order.created", recovering)
		em.Subscribe("order.created", healthy)

		start := time.Now()
		err := em.Emit(ctx, shared.NewBaseEvent("o-1", "order.created", nil))
		took := time.Since(start)

		if at := healthy.at["o-1"]; len(at) != 1 || !at[0].Equal(start) {
			t.Errorf("healthy listener called at %v, want once at the start", at)
		}
		for _, l := range []*flaky{broken, recovering} {
			at := l.at["o-1"]
			if len(at) != 2 || !at[0].Equal(start) || at[1].Sub(start) != time.Hour {
				t.Errorf("%s attempts at %v, want at 0 and after one hour's backoff", l.id, at)
			}
		}
		if took != time.Hour {
			t.Errorf("Emit took %v, want one backoff (1h): the retries run side by side", took)
		}
		var le *shared.ListenerError
		if !errors.Is(err, shared.ErrRetryLimitExceeded) || !errors.As(err, &le) || le.ListenerID != "broken" {
			t.Errorf("Emit = %v, want only broken's exhausted retries", err)
		}
		if strings.Contains(err.Error(), `"recovering"`) {
			t.Errorf("Emit = %v: recovering succeeded and must not be reported", err)
		}
		if err := em.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := lm.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEmitToManagedListenersStopsRetryingWhenCtxEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lm := listener.NewManager(listener.ManagerConfig{})
		policy := listener.RetryPolicy{MaxAttempts: 5, InitialDelay: time.Hour, MaxDelay: time.Hour, Jitter: listener.JitterNone}
		a, b := newFlaky("a", 100), newFlaky("b", 100)
		for _, l := range []*flaky{a, b} {
			if err := lm.Register(l, listener.ListenerConfig{RetryPolicy: policy}); err != nil {
				t.Fatal(err)
			}
		}
		em := emitter.New(emitter.Config{Listeners: lm})
		em.Subscribe("x", a)
		em.Subscribe("x", b)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
		defer cancel()
		start := time.Now()
		err := em.Emit(ctx, shared.NewBaseEvent("1", "x", nil))
		if took := time.Since(start); took != 90*time.Minute {
			t.Errorf("Emit returned after %v, want when ctx ended (90m)", took)
		}
		if !errors.Is(err, context.DeadlineExceeded) || a.count("1") != 2 || b.count("1") != 2 {
			t.Errorf("Emit = %v after %d and %d attempts, want ctx's error after 2 each", err, a.count("1"), b.count("1"))
		}
		if err := em.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := lm.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
