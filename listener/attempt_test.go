package listener_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// The one timeout rule: an error (or the context's own) after the deadline
// is a *shared.TimeoutError; a late nil is a success.
func TestAttemptTimeoutReallyFires(t *testing.T) {
	tests := []struct {
		name     string
		handler  func(ctx context.Context) error
		wantTook time.Duration
		timedOut bool
	}{
		{
			name:     "a handler that honours its context is cut at the deadline",
			handler:  func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			wantTook: 50 * time.Millisecond,
			timedOut: true,
		},
		{
			name:     "a handler that ignores its context and fails, fails with the timeout",
			handler:  func(ctx context.Context) error { time.Sleep(80 * time.Millisecond); return errBoom },
			wantTook: 80 * time.Millisecond,
			timedOut: true,
		},
		{
			name:     "a handler that ignores its context and returns nil has succeeded",
			handler:  func(ctx context.Context) error { time.Sleep(80 * time.Millisecond); return nil },
			wantTook: 80 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := shared.NewListener("slow", func(ctx context.Context, e shared.Event) error { return tt.handler(ctx) })
				m := newManager(t, l, listener.ListenerConfig{Timeout: 50 * time.Millisecond})
				start := time.Now()
				err := attempt(m, context.Background(), l, event("x"))
				if took := time.Since(start); took != tt.wantTook {
					t.Errorf("Attempt took %v, want %v", took, tt.wantTook)
				}
				st := m.Stats().Listeners[0]
				if !tt.timedOut {
					if err != nil || st.Failures != 0 || st.Successes != 1 {
						t.Fatalf("Attempt = %v (stats %+v), want a success", err, st)
					}
					return
				}
				var te *shared.TimeoutError
				if !errors.As(err, &te) || !errors.Is(err, shared.ErrTimeout) || te.Limit != 50*time.Millisecond {
					t.Fatalf("Attempt = %v, want a *shared.TimeoutError of 50ms", err)
				}
				if st.Failures != 1 || st.Timeouts != 1 {
					t.Errorf("Failures=%d Timeouts=%d, want 1 and 1", st.Failures, st.Timeouts)
				}
			})
		})
	}
}

func TestAttemptWithoutTimeoutGivesNoDeadline(t *testing.T) {
	l := shared.NewListener("l", func(ctx context.Context, e shared.Event) error {
		if _, ok := ctx.Deadline(); ok {
			return errors.New("unexpected deadline")
		}
		return nil
	})
	m := newManager(t, l, listener.ListenerConfig{})
	if err := attempt(m, context.Background(), l, event("x")); err != nil {
		t.Fatal(err)
	}
}

func TestAttemptTimeoutCountsAgainstTheBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := shared.NewListener("l", func(ctx context.Context, e shared.Event) error { <-ctx.Done(); return ctx.Err() })
		m := newManager(t, l, listener.ListenerConfig{
			Timeout: time.Second,
			Circuit: listener.CircuitConfig{Enabled: true, FailureThreshold: 2},
		})
		attemptN(m, l, 2)
		if s := circuitOf(t, m, "l"); s != listener.CircuitOpen {
			t.Errorf("after 2 timeouts the breaker is %v, want open", s)
		}
	})
}

func TestAttemptRespectsTheConcurrencyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var gauge, peak atomic.Int64
		l := shared.NewListener("l", func(ctx context.Context, e shared.Event) error {
			n := gauge.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
			gauge.Add(-1)
			return nil
		})
		m := newManager(t, l, listener.ListenerConfig{Concurrency: 3})
		var wg sync.WaitGroup
		start := time.Now()
		for range 30 {
			wg.Go(func() {
				if err := attempt(m, context.Background(), l, event("x")); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if p := peak.Load(); p != 3 {
			t.Errorf("peak concurrency = %d, want exactly 3", p)
		}
		if took := time.Since(start); took != 100*time.Millisecond {
			t.Errorf("30 attempts of 10ms, 3 at a time, took %v, want 100ms", took)
		}
	})
}

func TestAttemptWaitingForASlotHonoursCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls atomic.Int64
		l := shared.NewListener("l", func(ctx context.Context, e shared.Event) error {
			calls.Add(1)
			<-release
			return nil
		})
		m := newManager(t, l, listener.ListenerConfig{Concurrency: 1})
		done := make(chan error)
		go func() { done <- attempt(m, context.Background(), l, event("holder")) }()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := attempt(m, ctx, l, event("waiter"))
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 20*time.Millisecond {
			t.Errorf("waiting Attempt = %v after %v, want DeadlineExceeded after 20ms", err, time.Since(start))
		}
		if calls.Load() != 1 {
			t.Errorf("handler called %d times, want 1", calls.Load())
		}
		close(release)
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func TestAttemptTurnsPanicsIntoErrorsWithTheStack(t *testing.T) {
	l := shared.NewBaseListener("p", func(e shared.Event) error { panic("kaboom") })
	m := newManager(t, l, listener.ListenerConfig{})
	err := attempt(m, context.Background(), l, event("x"))
	var pe *shared.PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || len(pe.Stack) == 0 {
		t.Fatalf("Attempt = %v, want a *shared.PanicError with a stack", err)
	}
	if st := m.Stats().Listeners[0]; st.Panics != 1 || st.Failures != 1 {
		t.Errorf("Panics=%d Failures=%d, want 1 and 1", st.Panics, st.Failures)
	}
}

func TestAttemptCallsUnregisteredListenersPlainly(t *testing.T) {
	m := newManager(t, nil, listener.ListenerConfig{})
	l := &scripted{id: "stranger"}
	if err := attempt(m, context.Background(), l, event("x")); err != nil {
		t.Fatal(err)
	}
	p := shared.NewBaseListener("p", func(e shared.Event) error { panic("x") })
	if err := attempt(m, context.Background(), p, event("x")); !errors.Is(err, shared.ErrListenerPanic) {
		t.Errorf("panicking unregistered listener: %v, want ErrListenerPanic", err)
	}
	// Only the failed attempt of an unregistered listener is counted.
	if u := m.Stats().Unregistered; u.Attempts != 1 || u.Failures != 1 || u.Panics != 1 {
		t.Errorf("Unregistered stats = %+v, want 1 failed attempt, 1 panic", u)
	}
}

func TestAttemptRefusesBadInput(t *testing.T) {
	m := newManager(t, nil, listener.ListenerConfig{})
	l := &scripted{id: "l"}
	var nilListener *shared.BaseListener
	tests := []struct {
		name string
		l    shared.Listener
		e    shared.Event
		want error
	}{
		{"a nil listener", nil, event("x"), shared.ErrNilListener},
		{"a typed nil listener", nilListener, event("x"), shared.ErrNilListener},
		{"a nil event", l, nil, shared.ErrInvalidEvent},
		{"an event without ID", l, shared.NewBaseEvent("", "t", nil), shared.ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			if err := m.Handle(context.Background(), tt.l, tt.e); !errors.Is(err, tt.want) {
				t.Errorf("Handle = %v, want %v", err, tt.want)
			}
		})
	}
	if l.count() != 0 {
		t.Errorf("handler called %d times", l.count())
	}
}
