package emitter_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// errorSink collects what OnAsyncError receives.
type errorSink struct {
	mu   sync.Mutex
	errs []error
}

func (s *errorSink) add(_ shared.Event, err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *errorSink) got() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

// shutdownWithin shuts em down, failing the test if that takes longer than
// a (synctest) minute: a drainer that lost its slot makes Shutdown wait for
// ever.
func shutdownWithin(t *testing.T, em *emitter.Emitter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := em.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v: a drainer was lost", err)
	}
}

func isPanic(err error) bool {
	var pe *shared.PanicError
	return errors.As(err, &pe) && len(pe.Stack) > 0
}

func TestAPanickingMiddlewareHookDoesNotStopAsyncDelivery(t *testing.T) {
	for _, hook := range []string{"Before", "After"} {
		t.Run("a panic in "+hook+" becomes a counted error and later events are delivered", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var sink errorSink
				// One drainer: if the panic took it down, nothing after the
				// first event would be delivered.
				em := emitter.New(emitter.Config{MaxConcurrency: 1, OnAsyncError: sink.add})
				var r recorder
				em.Subscribe("m", r.listener("l"))
				mw := shared.MiddlewareFunc{}
				boom := func(e shared.Event) {
					if e.ID() == "boom" {
						panic(hook + " blew up")
					}
				}
				if hook == "Before" {
					mw.BeforeFunc = func(e shared.Event) error { boom(e); return nil }
				} else {
					mw.AfterFunc = func(e shared.Event, _ error) error { boom(e); return nil }
				}
				em.Middleware(mw)
				for _, id := range []string{"boom", "e1", "e2", "e3"} {
					if err := em.EmitAsync(context.Background(), ev(id, "m")); err != nil {
						t.Fatal(err)
					}
				}
				shutdownWithin(t, em)

				want := []string{"e1", "e2", "e3"}
				if hook == "After" {
					want = []string{"boom", "e1", "e2", "e3"} // After runs once the listeners are done
				}
				if got := r.got(); !slices.Equal(got, want) {
					t.Errorf("delivered %v, want %v", got, want)
				}
				errs := sink.got()
				if len(errs) != 1 || !isPanic(errs[0]) {
					t.Errorf("OnAsyncError got %v, want the one recovered panic", errs)
				}
				st := em.Stats()
				wantFailed := uint64(0)
				if hook == "Before" {
					wantFailed = 1 // a Before failure stops the dispatch
				}
				if st.MiddlewareErrors != 1 || st.FailedEvents != wantFailed || st.AsyncProcessed != 4 || st.ActiveDrainers != 0 {
					t.Errorf("stats = %+v", st)
				}
			})
		})
	}
}

func TestAPanickingMiddlewareHookInEmitReturnsAnError(t *testing.T) {
	t.Run("Before: the dispatch stops and earlier middleware gets its After", func(t *testing.T) {
		em := newEmitter(t, emitter.Config{})
		var afterSaw error
		em.Middleware(
			shared.MiddlewareFunc{AfterFunc: func(_ shared.Event, err error) error { afterSaw = err; return nil }},
			shared.MiddlewareFunc{BeforeFunc: func(shared.Event) error { panic("no") }},
		)
		var r recorder
		em.Subscribe("m", r.listener("l"))
		err := em.Emit(context.Background(), ev("e1", "m"))
		if !isPanic(err) || !isPanic(afterSaw) {
			t.Errorf("Emit = %v, the first After saw %v; want the recovered panic in both", err, afterSaw)
		}
		if len(r.got()) != 0 {
			t.Error("the listener ran although Before failed")
		}
		if st := em.Stats(); st.MiddlewareErrors != 1 || st.FailedEvents != 1 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("After: the listeners ran and the panic is returned with their errors", func(t *testing.T) {
		em := newEmitter(t, emitter.Config{})
		em.Middleware(shared.MiddlewareFunc{AfterFunc: func(shared.Event, error) error { panic("late") }})
		declined := errors.New("declined")
		var r recorder
		em.Subscribe("m", r.listener("ok"))
		em.Subscribe("m", shared.NewBaseListener("failing", func(shared.Event) error { return declined }))
		var err error
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("Emit panicked: %v", v)
				}
			}()
			err = em.Emit(context.Background(), ev("e1", "m"))
		}()
		if !isPanic(err) || !errors.Is(err, declined) {
			t.Errorf("Emit = %v, want the listener's error joined with the recovered panic", err)
		}
		if got := r.got(); len(got) != 1 {
			t.Errorf("listener ran %d times, want 1", len(got))
		}
		if st := em.Stats(); st.MiddlewareErrors != 1 || st.FailedEvents != 1 || st.EventsProcessed != 1 {
			t.Errorf("stats = %+v", st)
		}
	})
}

func TestAPanickingOnAsyncErrorDoesNotStopDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		em := emitter.New(emitter.Config{
			MaxConcurrency: 1,
			OnAsyncError:   func(shared.Event, error) { panic("error handler is broken") },
		})
		var calls sync.WaitGroup
		calls.Add(3)
		em.Subscribe("f", shared.NewBaseListener("l", func(shared.Event) error {
			calls.Done()
			return errors.New("failed")
		}))
		for i := range 3 {
			if err := em.EmitAsync(context.Background(), ev(fmt.Sprint(i), "f")); err != nil {
				t.Fatal(err)
			}
		}
		calls.Wait() // all three reached the listener, with one drainer
		shutdownWithin(t, em)
		if st := em.Stats(); st.HookPanics != 3 || st.FailedEvents != 3 || st.AsyncProcessed != 3 {
			t.Errorf("stats = %+v", st)
		}
	})
}

// panickyMetrics panics when an event named "boom" is reported handled.
type panickyMetrics struct{ shared.NopMetrics }

func (panickyMetrics) EventHandled(_, _, eventType string, _ time.Duration, _ error) {
	if eventType == "boom" {
		panic("metrics backend is broken")
	}
}

func TestAPanicElsewhereInAsyncDeliveryIsRecoveredByTheDrainer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sink errorSink
		em := emitter.New(emitter.Config{MaxConcurrency: 1, Metrics: panickyMetrics{}, OnAsyncError: sink.add})
		var r recorder
		em.Subscribe("boom", r.listener("l"))
		em.Subscribe("fine", r.listener("l"))
		for i, typ := range []string{"fine", "boom", "fine", "fine"} {
			if err := em.EmitAsync(context.Background(), ev(fmt.Sprint(i), typ)); err != nil {
				t.Fatal(err)
			}
		}
		shutdownWithin(t, em)
		if got := r.got(); len(got) != 4 {
			t.Errorf("delivered %v, want all four", got)
		}
		if errs := sink.got(); len(errs) != 1 || !isPanic(errs[0]) {
			t.Errorf("OnAsyncError got %v, want the recovered panic", errs)
		}
		if st := em.Stats(); st.HookPanics != 1 || st.FailedEvents != 1 || st.AsyncProcessed != 4 {
			t.Errorf("stats = %+v", st)
		}
	})
}

func TestAListenerCallingGoexitDoesNotLoseTheDrainerSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := workerpool.New(2, 16)
		em := emitter.New(emitter.Config{WorkerPool: pool, MaxConcurrency: 1})
		var r recorder
		rec := r.listener("l")
		em.Subscribe("x", shared.NewBaseListener("l", func(e shared.Event) error {
			if e.ID() == "exit" {
				runtime.Goexit()
			}
			return rec.Handle(context.Background(), e)
		}))
		for _, id := range []string{"exit", "e1", "e2"} {
			if err := em.EmitAsync(context.Background(), ev(id, "x")); err != nil {
				t.Fatal(err)
			}
		}
		shutdownWithin(t, em)
		if got := r.got(); !slices.Equal(got, []string{"e1", "e2"}) {
			t.Errorf("delivered %v", got)
		}
		if st := em.Stats(); st.AsyncProcessed != 3 || st.FailedEvents != 1 {
			t.Errorf("stats = %+v", st)
		}
		if err := pool.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAPanickingPriorityFunctionIsAnErrorNotAHang(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		em := emitter.New(emitter.Config{
			MaxConcurrency: 1,
			Priority: func(e shared.Event) workerpool.Priority {
				if e.Type() == "bad" {
					panic("no lane for you")
				}
				return workerpool.PriorityHigh
			},
		})
		var r recorder
		em.Subscribe("bad", r.listener("l"))
		em.Subscribe("good", r.listener("l"))
		var err error
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("EmitAsync panicked: %v", v)
				}
			}()
			err = em.EmitAsync(context.Background(), ev("b1", "bad"))
		}()
		if !isPanic(err) {
			t.Errorf("EmitAsync = %v, want an error carrying the recovered panic", err)
		}
		if err := em.EmitAsync(context.Background(), ev("g1", "good")); err != nil {
			t.Fatal(err)
		}
		shutdownWithin(t, em) // the failed call is not left counted inside
		if got := r.got(); !slices.Equal(got, []string{"g1"}) {
			t.Errorf("delivered %v, want only g1", got)
		}
		if st := em.Stats(); st.HookPanics != 1 || st.AsyncEvents != 1 {
			t.Errorf("stats = %+v", st)
		}
	})
}
