package emitter_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// within fails the test if f does not return in time: nothing an unusable
// Emitter does may hang.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// everyMethod calls every exported method of e and checks that each one
// that returns an error returns want.
func everyMethod(t *testing.T, e *emitter.Emitter, want error) {
	t.Helper()
	ctx := context.Background()
	ev := shared.NewBaseEvent("e1", "order.created", nil)
	l := shared.NewBaseListener("l", func(shared.Event) error { return nil })
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s = %v, want %v", what, err, want)
		}
	}
	within(t, "the methods", func() {
		check("Emit", e.Emit(ctx, ev))
		check("EmitAsync", e.EmitAsync(ctx, ev))
		check("EmitBatch", e.EmitBatch(ctx, []shared.Event{ev}))
		_, err := e.SubscribeE("order.created", l)
		check("SubscribeE", err)
		sub := e.Subscribe("order.created", l)
		if sub.Active() {
			t.Error("Subscribe returned an active subscription")
		}
		check("Subscribe(...).Unsubscribe", sub.Unsubscribe())
		e.Middleware(shared.MiddlewareFunc{})
		e.WrapListeners()
		if s := e.Stats(); s != (emitter.Stats{}) {
			t.Errorf("Stats = %+v, want zero", s)
		}
		if e.Listeners() != nil {
			t.Error("Listeners is not nil")
		}
		check("Shutdown", e.Shutdown(ctx))
	})
}

func TestTheZeroEmitterSaysItIsNotInitialized(t *testing.T) {
	everyMethod(t, &emitter.Emitter{}, emitter.ErrNotInitialized)
}

func TestNonsenseConfigIsAConfigErrorFromEveryMethod(t *testing.T) {
	for _, tc := range []struct {
		field string
		cfg   emitter.Config
	}{
		{"BufferSize", emitter.Config{BufferSize: -1}},
		{"BufferSize", emitter.Config{BufferSize: emitter.MaxBufferSize + 1}},
		{"MaxConcurrency", emitter.Config{MaxConcurrency: -1}},
		{"Overflow", emitter.Config{Overflow: workerpool.EvictOldest}},
		{"Overflow", emitter.Config{Overflow: workerpool.BlockTimeout(time.Second)}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			err := tc.cfg.Validate()
			var ce *emitter.ConfigError
			if !errors.As(err, &ce) || ce.Component != "emitter" || ce.Field != tc.field || !errors.Is(err, emitter.ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want a *ConfigError for %s", err, tc.field)
			}
			everyMethod(t, emitter.New(tc.cfg), emitter.ErrInvalidConfig)
		})
	}
	if err := (emitter.Config{Overflow: workerpool.RejectNew}).Validate(); err != nil {
		t.Errorf("RejectNew refused: %v", err)
	}
}
