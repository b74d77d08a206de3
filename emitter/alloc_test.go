package emitter_test

import (
	"context"
	"testing"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// The success paths allocate nothing per event. testing.AllocsPerRun counts
// the allocations of every goroutine, so the async case, which waits until
// the listener has run, counts the drainer's as well.
func TestTheSuccessPathsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	ctx := context.Background()
	noop := shared.NewBaseListener("noop", func(shared.Event) error { return nil })
	sent := ev("e1", "order.created")

	t.Run("Emit", func(t *testing.T) {
		em := newEmitter(t, emitter.Config{})
		em.Subscribe("order.created", noop)
		em.Subscribe("order.*", noop)
		assertNoAllocs(t, func() {
			if err := em.Emit(ctx, sent); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("Emit through middleware", func(t *testing.T) {
		em := newEmitter(t, emitter.Config{})
		em.Subscribe("order.created", noop)
		em.Middleware(shared.MiddlewareFunc{
			BeforeFunc: func(e shared.Event) error { return nil },
			AfterFunc:  func(e shared.Event, err error) error { return err },
		})
		assertNoAllocs(t, func() {
			if err := em.Emit(ctx, sent); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("Emit to a listener registered with a manager", func(t *testing.T) {
		lm := listener.NewManager(listener.ManagerConfig{})
		t.Cleanup(func() { _ = lm.Stop(ctx) })
		if err := lm.Register(noop, listener.ListenerConfig{}); err != nil {
			t.Fatal(err)
		}
		em := newEmitter(t, emitter.Config{Listeners: lm})
		em.Subscribe("order.created", noop)
		assertNoAllocs(t, func() {
			if err := em.Emit(ctx, sent); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("EmitAsync until the listener has run", func(t *testing.T) {
		em := newEmitter(t, emitter.Config{})
		handled := make(chan struct{}, 1)
		em.Subscribe("order.created", shared.NewBaseListener("signal", func(shared.Event) error {
			handled <- struct{}{}
			return nil
		}))
		assertNoAllocs(t, func() {
			if err := em.EmitAsync(ctx, sent); err != nil {
				t.Fatal(err)
			}
			<-handled
		})
	})
}

func assertNoAllocs(t *testing.T, f func()) {
	t.Helper()
	f() // warm up: first-use allocations (maps, goroutines) do not count
	if n := testing.AllocsPerRun(200, f); n != 0 {
		t.Errorf("%v allocations per call, want 0", n)
	}
}
