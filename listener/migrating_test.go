package listener_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// The kolosys/nova names build and mean what they meant there (see
// MIGRATING.md).
func TestKolosysBridges(t *testing.T) {
	m := listener.New(listener.ManagerConfig{})
	defer m.Stop(context.Background())
	cfg := listener.DefaultListenerConfig()
	if cfg.Concurrency != 10 || cfg.Timeout != 30*time.Second || !cfg.Circuit.Enabled || !cfg.DeadLetter.Enabled {
		t.Errorf("DefaultListenerConfig = %+v", cfg)
	}
	if p := listener.DefaultRetryPolicy(); p.MaxAttempts != 3 || p.InitialDelay != 100*time.Millisecond || p.MaxDelay != 30*time.Second || p.Backoff != listener.BackoffExponential {
		t.Errorf("DefaultRetryPolicy = %+v", p)
	}
	l := shared.NewBaseListener("billing", func(shared.Event) error { return nil })
	if err := m.Register(l, cfg); err != nil {
		t.Fatalf("Register(DefaultListenerConfig()) = %v", err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil { // kolosys: "already running"; Nova: harmless
		t.Errorf("a second Start = %v, want nil", err)
	}
	if got := listener.CircuitBroken.String(); got != "circuit-open" {
		t.Errorf("CircuitBroken.String() = %q, want kolosys's circuit-open", got)
	}
}

// hooked is a listener with kolosys/nova's OnError method.
type hooked struct {
	calls   []error
	replace error
}

func (h *hooked) ID() string { return "hooked" }
func (h *hooked) Handle(context.Context, shared.Event) error {
	return errors.New("boom")
}
func (h *hooked) OnError(_ context.Context, _ shared.Event, err error) error {
	h.calls = append(h.calls, err)
	return h.replace
}

func TestOnErrorIsCalledOncePerFailedAttempt(t *testing.T) {
	m := listener.New(listener.ManagerConfig{})
	defer m.Stop(context.Background())
	permanent := shared.Permanent(errors.New("do not retry"))
	h := &hooked{replace: permanent}
	if err := m.Register(h, listener.ListenerConfig{RetryPolicy: listener.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	err := m.Handle(context.Background(), h, shared.NewBaseEvent("e1", "t", nil))
	if len(h.calls) != 1 || h.calls[0].Error() != "boom" {
		t.Fatalf("OnError got %v, want the one error of the one attempt", h.calls)
	}
	// OnError's error replaced the handler's: permanent, so no retry.
	if !errors.Is(err, permanent) {
		t.Fatalf("Handle = %v, want OnError's permanent error", err)
	}
}
