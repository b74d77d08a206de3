package listener_test

// Each kolosys/nova v0.3 listener-manager failure listed in DESIGN.md, shown
// impossible here. (The fourth, "not wired to the emitter or the bus", is
// shown by the emitter's and the bus's own tests once they take a Manager.)

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

func TestKnownFailureTimeoutIsApplied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := shared.NewListener("hang", func(ctx context.Context, e shared.Event) error { <-ctx.Done(); return ctx.Err() })
		m := newManager(t, l, listener.ListenerConfig{Timeout: time.Second, RetryPolicy: listener.RetryPolicy{MaxAttempts: 1}})
		start := time.Now()
		err := m.Handle(context.Background(), l, event("x"))
		if !errors.Is(err, shared.ErrTimeout) || time.Since(start) != time.Second {
			t.Errorf("Handle = %v after %v, want a timeout after 1s", err, time.Since(start))
		}
	})
}

func TestKnownFailureBackoffIsExponentialWithJitter(t *testing.T) {
	p := listener.RetryPolicy{InitialDelay: time.Millisecond, MaxDelay: time.Hour, Jitter: listener.JitterNone}
	// quadratic: 1, 4, 9, 16, 25, 36 ms; exponential: 1, 2, 4, 8, 16, 32 ms.
	for n, want := range []time.Duration{1, 2, 4, 8, 16, 32, 64, 128} {
		if got := p.Delay(n + 1); got != want*time.Millisecond {
			t.Errorf("Delay(%d) = %v, want %v", n+1, got, want*time.Millisecond)
		}
	}
	jittered := listener.RetryPolicy{InitialDelay: time.Second} // default jitter
	if jittered.Delay(1) == jittered.Delay(1) && jittered.Delay(1) == jittered.Delay(1) {
		t.Error("three default delays were equal: no jitter")
	}
}

func TestKnownFailureBreakerResetsFailures(t *testing.T) {
	l := &scripted{id: "l"}
	m := newManager(t, l, listener.ListenerConfig{Circuit: listener.CircuitConfig{Enabled: true, FailureThreshold: 3}})
	for range 10 { // failure, failure, success, over and over: never 3 in a row
		l.push(errBoom, errBoom, nil)
	}
	for i, err := range attemptN(m, l, 30) {
		if errors.Is(err, listener.ErrCircuitOpen) {
			t.Fatalf("attempt %d refused: failures separated by successes opened the breaker", i+1)
		}
	}
}
