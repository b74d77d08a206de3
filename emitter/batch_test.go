package emitter_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/shared"
)

func batch(ids ...string) []shared.Event {
	out := make([]shared.Event, len(ids))
	for i, id := range ids {
		out[i] = ev(id, "batch.item")
	}
	return out
}

func TestEmitBatch(t *testing.T) {
	ctx := context.Background()
	t.Run("delivers the events in order", func(t *testing.T) {
		em := newEmitter(t, emitter.Config{})
		var r recorder
		em.Subscribe("batch.item", r.listener("l"))
		if err := em.EmitBatch(ctx, batch("b1", "b2", "b3")); err != nil {
			t.Fatal(err)
		}
		if got := r.got(); !slices.Equal(got, []string{"b1", "b2", "b3"}) {
			t.Errorf("delivered %v", got)
		}
		if st := em.Stats(); st.EventsProcessed != 3 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("goes on past failures and joins their errors", func(t *testing.T) {
		em := newEmitter(t, emitter.Config{})
		errOdd := errors.New("odd event")
		var r recorder
		rec := r.listener("l")
		em.Subscribe("batch.item", shared.NewBaseListener("l", func(e shared.Event) error {
			_ = rec.Handle(ctx, e)
			if e.ID() == "b1" || e.ID() == "b3" {
				return errOdd
			}
			return nil
		}))
		err := em.EmitBatch(ctx, batch("b1", "b2", "b3"))
		if got := r.got(); !slices.Equal(got, []string{"b1", "b2", "b3"}) {
			t.Errorf("delivered %v, want all three", got)
		}
		var failed []string
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			var le *shared.ListenerError
			if errors.As(e, &le) && errors.Is(e, errOdd) {
				failed = append(failed, le.EventID)
			}
		}
		if !slices.Equal(failed, []string{"b1", "b3"}) {
			t.Errorf("err = %v, want the failures of b1 and b3", err)
		}
	})
	t.Run("with AsyncMode goes through the buffer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			em := emitter.New(emitter.Config{AsyncMode: true, MaxConcurrency: 1})
			release := make(chan struct{})
			var r recorder
			rec := r.listener("l")
			em.Subscribe("batch.item", shared.NewBaseListener("l", func(e shared.Event) error {
				<-release
				return rec.Handle(ctx, e)
			}))
			// Synchronous delivery would wait for release for ever.
			if err := em.EmitBatch(ctx, batch("b1", "b2", "b3")); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if st := em.Stats(); st.AsyncEvents != 3 || len(r.got()) != 0 {
				t.Errorf("stats = %+v, delivered %v", st, r.got())
			}
			close(release)
			if err := em.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if got := r.got(); !slices.Equal(got, []string{"b1", "b2", "b3"}) {
				t.Errorf("delivered %v", got)
			}
		})
	})
	t.Run("stops once ctx is done", func(t *testing.T) {
		em := newEmitter(t, emitter.Config{})
		cctx, cancel := context.WithCancel(ctx)
		var r recorder
		rec := r.listener("l")
		em.Subscribe("batch.item", shared.NewBaseListener("l", func(e shared.Event) error {
			if e.ID() == "b2" {
				cancel()
			}
			return rec.Handle(ctx, e)
		}))
		err := em.EmitBatch(cctx, batch("b1", "b2", "b3"))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if got := r.got(); !slices.Equal(got, []string{"b1", "b2"}) {
			t.Errorf("delivered %v, want b1 and b2 only", got)
		}
	})
	t.Run("treats a nil ctx as Background", func(t *testing.T) {
		em := newEmitter(t, emitter.Config{})
		boom := errors.New("boom")
		em.Subscribe("batch.item", shared.NewBaseListener("l", func(shared.Event) error { return boom }))
		var err error
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("EmitBatch(nil, …) panicked: %v", v)
				}
			}()
			//lint:ignore SA1012 a nil ctx is what this test is about
			err = em.EmitBatch(nil, batch("b1", "b2"))
		}()
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want the listener's errors", err)
		}
	})
}

func TestShutdownTreatsANilContextAsBackground(t *testing.T) {
	em := emitter.New(emitter.Config{})
	var r recorder
	em.Subscribe("x", r.listener("l"))
	if err := em.EmitAsync(context.Background(), ev("e1", "x")); err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1012 a nil ctx is what this test is about
	if err := em.Shutdown(nil); err != nil {
		t.Fatalf("Shutdown(nil) = %v", err)
	}
	if len(r.got()) != 1 {
		t.Errorf("delivered %v, want e1", r.got())
	}
}
