package emitter_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/shared"
)

// Shutdown waits for every accepted event, the one whose listener calls it
// included: from inside an async listener it can only end with its ctx, and
// started on a goroutine of its own it completes once the listener returns.
func TestShutdownFromInsideAnAsyncListener(t *testing.T) {
	t.Run("called inline it returns ctx.Err() when its ctx ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			em := emitter.New(emitter.Config{})
			inline := make(chan error, 1)
			em.Subscribe("stop", shared.NewBaseListener("stopper", func(shared.Event) error {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				inline <- em.Shutdown(ctx)
				return nil
			}))
			if err := em.EmitAsync(context.Background(), ev("e1", "stop")); err != nil {
				t.Fatal(err)
			}
			if err := <-inline; !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown inside the listener = %v, want context.DeadlineExceeded", err)
			}
			if err := em.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown once the listener returned = %v", err)
			}
		})
	})
	t.Run("started on its own goroutine it completes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			em := emitter.New(emitter.Config{})
			done := make(chan error, 1)
			em.Subscribe("stop", shared.NewBaseListener("stopper", func(shared.Event) error {
				go func() { done <- em.Shutdown(context.Background()) }()
				return nil
			}))
			if err := em.EmitAsync(context.Background(), ev("e1", "stop")); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Errorf("Shutdown = %v", err)
			}
			if !em.Stats().Closed {
				t.Error("emitter not closed")
			}
		})
	})
}
