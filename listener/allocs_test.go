package listener_test

import (
	"context"
	"testing"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// The managed success path allocates nothing beyond the unmanaged call
// (shared.SafeHandle, how dispatchers call a listener without a manager):
// registering a listener must not make every event cost garbage.
func TestManagedSuccessPathAllocatesNothingExtra(t *testing.T) {
	ctx := context.Background()
	e := benchEvent()
	l := newOrderProcessor()
	unmanaged := testing.AllocsPerRun(1000, func() {
		if shared.SafeHandle(ctx, l, e) != nil {
			t.Fatal("unmanaged call failed")
		}
	})
	configs := []struct {
		name string
		cfg  listener.ListenerConfig
	}{
		{"the default config", listener.ListenerConfig{}},
		{"a circuit breaker", listener.ListenerConfig{Circuit: listener.CircuitConfig{Enabled: true}}},
		{"a breaker with a failure-rate window and a concurrency limit",
			listener.ListenerConfig{Concurrency: 4, Circuit: listener.CircuitConfig{Enabled: true, FailureRate: 0.5}}},
		{"dead letters with a handler", listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true, Handler: func(shared.Event, error) {}}}},
	}
	for _, c := range configs {
		t.Run("Handle with "+c.name+" allocates no more than the unmanaged call", func(t *testing.T) {
			m := newManager(t, l, c.cfg)
			rt := mustRoute(t, m, l)
			paths := []struct {
				name string
				call func() error
			}{
				{"Manager.Handle", func() error { return m.Handle(ctx, l, e) }},
				{"Route.Attempt", func() error { return rt.Attempt(ctx, e, 1).Err }},
			}
			for _, p := range paths {
				got := testing.AllocsPerRun(1000, func() {
					if err := p.call(); err != nil {
						t.Fatalf("%s: %v", p.name, err)
					}
				})
				if got > unmanaged {
					t.Errorf("%s allocates %v per call, the unmanaged call %v", p.name, got, unmanaged)
				}
			}
		})
	}
}
