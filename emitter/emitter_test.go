package emitter_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

func newEmitter(t *testing.T, cfg emitter.Config) *emitter.Emitter {
	t.Helper()
	em := emitter.New(cfg)
	t.Cleanup(func() {
		if err := em.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return em
}

func ev(id, typ string) *shared.BaseEvent { return shared.NewBaseEvent(id, typ, nil) }

// recorder collects the IDs of the events it handles.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) listener(id string) shared.Listener {
	return shared.NewBaseListener(id, func(e shared.Event) error {
		r.mu.Lock()
		r.ids = append(r.ids, e.ID())
		r.mu.Unlock()
		return nil
	})
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

func TestSubscriptionsMatchTypesAndPatterns(t *testing.T) {
	tests := []struct {
		subscribe string
		emit      string
		want      bool
	}{
		{"order.created", "order.created", true},
		{"order.created", "order.updated", false},
		{"order.*", "order.created", true},
		{"order.*", "order.item.added", false},
		{"order.>", "order.item.added", true},
		{"order.>", "order", false},
		{"*.created", "user.created", true},
		{">", "anything.at.all", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s receives %s: %v", tt.subscribe, tt.emit, tt.want), func(t *testing.T) {
			em := newEmitter(t, emitter.Config{})
			var r recorder
			em.Subscribe(tt.subscribe, r.listener("l"))
			if err := em.Emit(context.Background(), ev("e1", tt.emit)); err != nil {
				t.Fatal(err)
			}
			if got := len(r.got()) == 1; got != tt.want {
				t.Errorf("delivered = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUnsubscribeRemovesOnlyThatSubscription(t *testing.T) {
	em := newEmitter(t, emitter.Config{})
	var r recorder
	l := r.listener("same-listener")
	first := em.Subscribe("order.created", l)
	second := em.Subscribe("order.created", l)
	pattern := em.Subscribe("order.*", l)
	if err := first.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if first.Active() || !second.Active() || !pattern.Active() {
		t.Fatalf("active: first=%v second=%v pattern=%v", first.Active(), second.Active(), pattern.Active())
	}
	_ = em.Emit(context.Background(), ev("e1", "order.created"))
	if got := r.got(); len(got) != 2 {
		t.Fatalf("after removing one of three subscriptions, got %d deliveries, want 2", len(got))
	}
	_ = pattern.Unsubscribe()
	_ = pattern.Unsubscribe() // twice is fine
	_ = em.Emit(context.Background(), ev("e2", "order.created"))
	if got := r.got(); len(got) != 3 {
		t.Fatalf("got %d deliveries, want 3", len(got))
	}
	if n := em.Stats().ActiveListeners; n != 1 {
		t.Errorf("ActiveListeners = %d, want 1", n)
	}
}

func TestBadInputIsRefusedWithCheckableErrors(t *testing.T) {
	em := newEmitter(t, emitter.Config{})
	ctx := context.Background()
	var typedNil *shared.BaseEvent
	for name, e := range map[string]shared.Event{
		"nil event":       nil,
		"typed nil event": typedNil,
		"empty ID":        ev("", "order.created"),
		"empty type":      ev("e1", ""),
		"zero BaseEvent":  &shared.BaseEvent{},
		"wildcard type":   ev("e1", "order.*"),
		"empty token":     ev("e1", "order..created"),
	} {
		t.Run(name, func(t *testing.T) {
			if err := em.Emit(ctx, e); !errors.Is(err, emitter.ErrInvalidEvent) {
				t.Errorf("Emit = %v, want ErrInvalidEvent", err)
			}
			if err := em.EmitAsync(ctx, e); !errors.Is(err, emitter.ErrInvalidEvent) {
				t.Errorf("EmitAsync = %v, want ErrInvalidEvent", err)
			}
			var ve *shared.ValidationError
			if err := em.Emit(ctx, e); !errors.As(err, &ve) {
				t.Errorf("Emit error %v is not a *ValidationError", err)
			}
		})
	}
	t.Run("bad subscriptions", func(t *testing.T) {
		for name, sub := range map[string]func() (shared.Subscription, error){
			"nil listener":   func() (shared.Subscription, error) { return em.SubscribeE("a.b", nil) },
			"empty listener": func() (shared.Subscription, error) { return em.SubscribeE("a.b", shared.NewBaseListener("", nil)) },
			"bad pattern": func() (shared.Subscription, error) {
				return em.SubscribeE("a.>.b", shared.NewBaseListener("l", func(shared.Event) error { return nil }))
			},
			"empty event type": func() (shared.Subscription, error) {
				return em.SubscribeE("", shared.NewBaseListener("l", func(shared.Event) error { return nil }))
			},
			// Emit skips scanning a type that an exact subscription names, so
			// such a subscription must not name a type Validate refuses.
			"exact type with an empty token": func() (shared.Subscription, error) {
				return em.SubscribeE("order..created", shared.NewBaseListener("l", func(shared.Event) error { return nil }))
			},
		} {
			if _, err := sub(); !errors.Is(err, emitter.ErrInvalidSubscription) {
				t.Errorf("%s: err = %v, want ErrInvalidSubscription", name, err)
			}
		}
		s := em.Subscribe("a.b", nil)
		if s.Active() || !errors.Is(s.Unsubscribe(), emitter.ErrInvalidSubscription) {
			t.Errorf("Subscribe(nil) returned an active subscription or no error")
		}
	})
	t.Run("batch with one bad event emits none", func(t *testing.T) {
		var r recorder
		em.Subscribe("batch.x", r.listener("l"))
		err := em.EmitBatch(ctx, []shared.Event{ev("b1", "batch.x"), nil, ev("b3", "batch.x")})
		if !errors.Is(err, emitter.ErrInvalidEvent) || len(r.got()) != 0 {
			t.Errorf("err = %v, delivered %v", err, r.got())
		}
	})
}

func TestEmitRunsEveryListenerAndJoinsTheirErrors(t *testing.T) {
	em := newEmitter(t, emitter.Config{})
	errFirst := errors.New("first failed")
	var ran atomic.Int32
	em.Subscribe("x.y", shared.NewBaseListener("first", func(shared.Event) error { ran.Add(1); return errFirst }))
	em.Subscribe("x.y", shared.NewBaseListener("second", func(shared.Event) error { ran.Add(1); panic("boom") }))
	em.Subscribe("x.*", shared.NewBaseListener("third", func(shared.Event) error { ran.Add(1); return nil }))

	err := em.Emit(context.Background(), ev("e1", "x.y"))
	if ran.Load() != 3 {
		t.Fatalf("%d listeners ran, want 3", ran.Load())
	}
	if !errors.Is(err, errFirst) || !errors.Is(err, shared.ErrListenerPanic) {
		t.Fatalf("err = %v, want both failures", err)
	}
	var le *shared.ListenerError
	if !errors.As(err, &le) || le.ListenerID != "first" || le.EventID != "e1" {
		t.Errorf("first ListenerError = %+v", le)
	}
	var pe *shared.PanicError
	if !errors.As(err, &pe) || len(pe.Stack) == 0 {
		t.Errorf("panic error has no stack: %+v", pe)
	}
	st := em.Stats()
	if st.EventsEmitted != 1 || st.EventsProcessed != 1 || st.FailedEvents != 1 || st.ListenerErrors != 2 || st.Panics != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestEmitAsyncRunsHandlersConcurrently(t *testing.T) {
	const n = 4
	pool := workerpool.New(n, 16)
	defer pool.Close(context.Background())
	em := newEmitter(t, emitter.Config{WorkerPool: pool, MaxConcurrency: n})
	// Every handler waits at the barrier until all n are inside at once: with
	// one handler at a time this would never release.
	var arrived sync.WaitGroup
	arrived.Add(n)
	release := make(chan struct{})
	var done sync.WaitGroup
	done.Add(n)
	em.Subscribe("work", shared.NewBaseListener("barrier", func(shared.Event) error {
		arrived.Done()
		<-release
		done.Done()
		return nil
	}))
	for i := range n {
		if err := em.EmitAsync(context.Background(), ev(fmt.Sprint(i), "work")); err != nil {
			t.Fatal(err)
		}
	}
	allIn := make(chan struct{})
	go func() { arrived.Wait(); close(allIn) }()
	select {
	case <-allIn:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("handlers did not run concurrently")
	}
	close(release)
	done.Wait()
}

func TestMaxConcurrencyBoundsAsyncHandlers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Eight workers and plenty of events, so that only MaxConcurrency can
		// be what keeps handlers out.
		pool := workerpool.New(8, 64)
		em := emitter.New(emitter.Config{WorkerPool: pool, MaxConcurrency: 2})
		var entered atomic.Int32
		release := make(chan struct{})
		em.Subscribe("work", shared.NewBaseListener("gate", func(shared.Event) error {
			entered.Add(1)
			<-release
			return nil
		}))
		for i := range 20 {
			if err := em.EmitAsync(context.Background(), ev(fmt.Sprint(i), "work")); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait() // every goroutine that could enter a handler has
		if n := entered.Load(); n != 2 {
			t.Errorf("%d handlers running at once, want exactly MaxConcurrency = 2", n)
		}
		if st := em.Stats(); st.ActiveDrainers != 2 || st.QueuedEvents != 18 {
			t.Errorf("stats = %+v", st)
		}
		close(release)
		if err := em.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := em.Stats(); st.EventsProcessed != 20 {
			t.Errorf("processed %d of 20", st.EventsProcessed)
		}
		if err := pool.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAsyncContextKeepsValuesButNotCancellation(t *testing.T) {
	em := newEmitter(t, emitter.Config{})
	type key struct{}
	got := make(chan error, 1)
	em.Subscribe("ctx", shared.NewListener("ctx", func(ctx context.Context, _ shared.Event) error {
		if ctx.Value(key{}) != "v" {
			got <- errors.New("value lost")
		} else {
			got <- ctx.Err()
		}
		return nil
	}))
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	if err := em.EmitAsync(ctx, ev("e1", "ctx")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-got; err != nil {
		t.Errorf("handler ctx: %v", err)
	}
}

func TestFullBufferPolicies(t *testing.T) {
	// newBlocked returns an emitter whose one drainer is stuck in the
	// handler of "h" and whose buffer (two events) is full, and the channel
	// that lets one handler call through. The pool is made inside the
	// caller's synctest bubble.
	newBlocked := func(t *testing.T, policy emitter.Overflow, r *recorder) (*emitter.Emitter, chan struct{}) {
		t.Helper()
		pool := workerpool.New(1, 4)
		t.Cleanup(func() { _ = pool.Close(context.Background()) })
		em := emitter.New(emitter.Config{WorkerPool: pool, BufferSize: 2, MaxConcurrency: 1, Overflow: policy})
		block := make(chan struct{})
		rec := r.listener("slow")
		em.Subscribe("slow", shared.NewBaseListener("slow", func(e shared.Event) error {
			<-block
			return rec.Handle(context.Background(), e)
		}))
		for _, id := range []string{"h", "b1", "b2"} {
			if err := em.EmitAsync(context.Background(), ev(id, "slow")); err != nil {
				t.Fatal(err)
			}
			synctest.Wait() // "h" is taken by the drainer before b1 and b2 fill the buffer
		}
		if st := em.Stats(); st.QueuedEvents != 2 {
			t.Fatalf("setup: %d events queued, want a full buffer of 2", st.QueuedEvents)
		}
		return em, block
	}
	t.Run("reject returns ErrBufferFull and counts the drop", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var r recorder
			em, block := newBlocked(t, emitter.OverflowReject, &r)
			if err := em.EmitAsync(context.Background(), ev("x", "slow")); !errors.Is(err, emitter.ErrBufferFull) {
				t.Errorf("err = %v, want ErrBufferFull", err)
			}
			if st := em.Stats(); st.DroppedEvents != 1 || st.QueuedEvents != 2 {
				t.Errorf("stats = %+v", st)
			}
			close(block)
			if err := em.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := r.got(); !slices.Equal(got, []string{"h", "b1", "b2"}) {
				t.Errorf("delivered %v", got)
			}
		})
	})
	t.Run("block waits for room, then accepts and delivers the event once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var r recorder
			em, block := newBlocked(t, emitter.OverflowBlock, &r)
			errc := make(chan error, 1)
			go func() { errc <- em.EmitAsync(context.Background(), ev("x", "slow")) }()
			synctest.Wait() // the caller is durably blocked on the full buffer
			select {
			case err := <-errc:
				t.Fatalf("EmitAsync returned %v on a full buffer, want it to wait", err)
			default:
			}
			block <- struct{}{} // "h" finishes; the drainer takes b1 and frees a slot
			if err := <-errc; err != nil {
				t.Fatalf("EmitAsync = %v once room was made, want nil", err)
			}
			close(block)
			if err := em.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := r.got(); !slices.Equal(got, []string{"h", "b1", "b2", "x"}) {
				t.Errorf("delivered %v, want x once, after the events ahead of it", got)
			}
			if st := em.Stats(); st.EventsProcessed != 4 || st.DroppedEvents != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	})
	t.Run("block gives up with ctx.Err() when the caller's ctx ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var r recorder
			em, block := newBlocked(t, emitter.OverflowBlock, &r)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- em.EmitAsync(ctx, ev("x", "slow")) }()
			synctest.Wait()
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
			close(block)
			if err := em.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := r.got(); !slices.Equal(got, []string{"h", "b1", "b2"}) {
				t.Errorf("delivered %v: the cancelled event must not be", got)
			}
		})
	})
	t.Run("Shutdown releases a blocked caller with ErrClosed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var r recorder
			em, block := newBlocked(t, emitter.OverflowBlock, &r)
			errc := make(chan error, 1)
			go func() { errc <- em.EmitAsync(context.Background(), ev("x", "slow")) }()
			synctest.Wait()
			shut := make(chan error, 1)
			go func() { shut <- em.Shutdown(context.Background()) }()
			if err := <-errc; !errors.Is(err, emitter.ErrClosed) {
				t.Errorf("blocked EmitAsync = %v, want ErrClosed", err)
			}
			synctest.Wait()
			select {
			case err := <-shut:
				t.Fatalf("Shutdown returned %v with accepted events still undelivered", err)
			default:
			}
			close(block)
			if err := <-shut; err != nil {
				t.Fatal(err)
			}
			if got := r.got(); !slices.Equal(got, []string{"h", "b1", "b2"}) {
				t.Errorf("delivered %v: every accepted event, and not x", got)
			}
		})
	})
}

func TestShutdownDeliversEveryAcceptedEventThenRefuses(t *testing.T) {
	pool := workerpool.New(2, 8)
	defer pool.Close(context.Background())
	em := emitter.New(emitter.Config{WorkerPool: pool, BufferSize: 10000})
	var handled atomic.Int64
	em.Subscribe("e", shared.NewBaseListener("count", func(shared.Event) error { handled.Add(1); return nil }))
	accepted := 0
	for i := range 5000 {
		if em.EmitAsync(context.Background(), ev(fmt.Sprint(i), "e")) == nil {
			accepted++
		}
	}
	if err := em.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := handled.Load(); got != int64(accepted) {
		t.Errorf("handled %d of %d accepted", got, accepted)
	}
	for name, err := range map[string]error{
		"Emit":      em.Emit(context.Background(), ev("late", "e")),
		"EmitAsync": em.EmitAsync(context.Background(), ev("late", "e")),
		"EmitBatch": em.EmitBatch(context.Background(), []shared.Event{ev("late", "e")}),
		"Subscribe": em.Subscribe("e", shared.NewBaseListener("l", func(shared.Event) error { return nil })).Unsubscribe(),
		"Shutdown":  em.Shutdown(context.Background()),
	} {
		want := emitter.ErrClosed
		if name == "Shutdown" {
			want = nil
		}
		if !errors.Is(err, want) {
			t.Errorf("%s after Shutdown = %v, want %v", name, err, want)
		}
	}
}

func TestShutdownTimesOutWithContextError(t *testing.T) {
	em := emitter.New(emitter.Config{})
	release := make(chan struct{})
	em.Subscribe("stuck", shared.NewBaseListener("stuck", func(shared.Event) error { <-release; return nil }))
	_ = em.EmitAsync(context.Background(), ev("e", "stuck"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := em.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
	close(release)
	if err := em.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
}

func TestShutdownRacingEmitsNeverPanics(t *testing.T) {
	for round := range 200 {
		pool := workerpool.New(2, 4)
		em := emitter.New(emitter.Config{WorkerPool: pool, BufferSize: 8})
		var handled, accepted atomic.Int64
		em.Subscribe("r", shared.NewBaseListener("l", func(shared.Event) error { handled.Add(1); return nil }))
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					e := ev(fmt.Sprint(g, i), "r")
					var err error
					if i%2 == 0 {
						err = em.EmitAsync(context.Background(), e)
						if err == nil {
							accepted.Add(1)
						}
					} else {
						err = em.Emit(context.Background(), e)
						if err == nil {
							accepted.Add(1)
						}
					}
					if err != nil && !errors.Is(err, emitter.ErrClosed) {
						t.Errorf("round %d: unexpected %v", round, err)
					}
				}
			}()
		}
		wg.Add(2)
		go func() { defer wg.Done(); _ = em.Shutdown(context.Background()) }()
		go func() { defer wg.Done(); _ = em.Shutdown(context.Background()) }()
		wg.Wait()
		if err := em.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if handled.Load() != accepted.Load() {
			t.Fatalf("round %d: handled %d, accepted %d", round, handled.Load(), accepted.Load())
		}
		_ = pool.Close(context.Background())
	}
}

func TestMiddlewareOrderAndRejection(t *testing.T) {
	em := newEmitter(t, emitter.Config{})
	var mu sync.Mutex
	var trace []string
	log := func(s string) { mu.Lock(); trace = append(trace, s); mu.Unlock() }
	errStop := errors.New("stop")
	em.Middleware(
		shared.MiddlewareFunc{
			BeforeFunc: func(shared.Event) error { log("before1"); return nil },
			AfterFunc:  func(_ shared.Event, err error) error { log(fmt.Sprint("after1 ", err != nil)); return nil },
		},
		shared.MiddlewareFunc{
			BeforeFunc: func(e shared.Event) error {
				log("before2")
				if e.ID() == "reject" {
					return errStop
				}
				return nil
			},
			AfterFunc: func(shared.Event, error) error { log("after2"); return errors.New("counted") },
		},
	)
	em.Subscribe("m", shared.NewBaseListener("l", func(shared.Event) error { log("handle"); return nil }))
	_ = em.Emit(context.Background(), ev("ok", "m"))
	want := []string{"before1", "before2", "handle", "after2", "after1 false"}
	if !slices.Equal(trace, want) {
		t.Errorf("trace = %v, want %v", trace, want)
	}
	trace = nil
	if err := em.Emit(context.Background(), ev("reject", "m")); !errors.Is(err, errStop) {
		t.Errorf("err = %v, want errStop", err)
	}
	want = []string{"before1", "before2", "after1 true"}
	if !slices.Equal(trace, want) {
		t.Errorf("trace = %v, want %v", trace, want)
	}
	if st := em.Stats(); st.MiddlewareErrors != 2 {
		t.Errorf("MiddlewareErrors = %d, want 2", st.MiddlewareErrors)
	}
}

func TestWrapListenersAppliesToExistingAndNewListeners(t *testing.T) {
	em := newEmitter(t, emitter.Config{})
	var r recorder
	sub := em.Subscribe("w", r.listener("old"))
	em.WrapListeners(shared.Timeout(time.Hour), func(next shared.Listener) shared.Listener {
		return shared.Wrap(next, func(ctx context.Context, e shared.Event) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline")
			}
			return next.Handle(ctx, e)
		})
	})
	em.Subscribe("w", r.listener("new"))
	if err := em.Emit(context.Background(), ev("e1", "w")); err != nil {
		t.Fatal(err)
	}
	if len(r.got()) != 2 {
		t.Fatalf("got %v", r.got())
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	_ = em.Emit(context.Background(), ev("e2", "w"))
	if len(r.got()) != 3 {
		t.Errorf("unsubscribe after WrapListeners: got %v", r.got())
	}
}

func TestAsyncModeMakesEmitAsynchronous(t *testing.T) {
	em := newEmitter(t, emitter.Config{AsyncMode: true})
	release := make(chan struct{})
	done := make(chan struct{})
	em.Subscribe("a", shared.NewBaseListener("l", func(shared.Event) error { <-release; close(done); return nil }))
	if err := em.Emit(context.Background(), ev("e", "a")); err != nil {
		t.Fatal(err) // would block forever if Emit were synchronous
	}
	close(release)
	<-done
}

func TestAsyncErrorsReachOnAsyncError(t *testing.T) {
	got := make(chan error, 1)
	em := newEmitter(t, emitter.Config{OnAsyncError: func(_ shared.Event, err error) { got <- err }})
	boom := errors.New("boom")
	em.Subscribe("f", shared.NewBaseListener("l", func(shared.Event) error { return boom }))
	_ = em.EmitAsync(context.Background(), ev("e", "f"))
	if err := <-got; !errors.Is(err, boom) {
		t.Errorf("got %v", err)
	}
}

func TestEvictingPoolNeverStrandsAsyncEvents(t *testing.T) {
	pool := workerpool.New(1, 1, workerpool.WithOverflow(workerpool.EvictOldest))
	defer pool.Close(context.Background())
	em := emitter.New(emitter.Config{WorkerPool: pool, BufferSize: 64})
	var handled atomic.Int64
	em.Subscribe("e", shared.NewBaseListener("l", func(shared.Event) error { handled.Add(1); return nil }))
	// Other users of the pool flood it with tasks that evict each other.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = pool.TrySubmit(func() {})
			}
		}
	}()
	for i := range 2000 {
		if err := em.EmitAsync(context.Background(), ev(fmt.Sprint(i), "e")); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if err := em.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := handled.Load(); n != 2000 {
		t.Errorf("handled %d of 2000", n)
	}
}
