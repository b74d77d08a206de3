package listener_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

func TestBreakerOpensAfterConsecutiveFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		m := newManager(t, l, listener.ListenerConfig{Circuit: listener.CircuitConfig{Enabled: true, FailureThreshold: 5}})
		l.push(repeat(errBoom, 4)...)
		attemptN(m, l, 4)
		if s := circuitOf(t, m, "l"); s != listener.CircuitClosed {
			t.Fatalf("after 4 failures the breaker is %v, want closed", s)
		}
		l.push(errBoom)
		attemptN(m, l, 1)
		if s := circuitOf(t, m, "l"); s != listener.CircuitOpen {
			t.Fatalf("after 5 failures the breaker is %v, want open", s)
		}
		err := attempt(m, context.Background(), l, event("x"))
		var coe *listener.CircuitOpenError
		if !errors.Is(err, listener.ErrCircuitOpen) || !errors.As(err, &coe) {
			t.Fatalf("Attempt on an open breaker = %v, want a *CircuitOpenError", err)
		}
		if coe.RetryAfter != listener.DefaultCoolDown {
			t.Errorf("RetryAfter = %v, want the full cool-down %v", coe.RetryAfter, listener.DefaultCoolDown)
		}
		if l.count() != 5 {
			t.Errorf("handler called %d times, want 5: an open breaker must not call it", l.count())
		}
		if st := m.Stats().Listeners[0]; st.Rejected != 1 || st.CircuitOpens != 1 {
			t.Errorf("stats Rejected=%d CircuitOpens=%d, want 1 and 1", st.Rejected, st.CircuitOpens)
		}
	})
}

// kolosys/nova counted failures forever: a success never reset them.
func TestBreakerSuccessesResetTheRunOfFailures(t *testing.T) {
	configs := map[string]listener.CircuitConfig{
		"consecutive rule only":     {Enabled: true, FailureThreshold: 5},
		"with a failure-rate rule":  {Enabled: true, FailureThreshold: 5, FailureRate: 0.5, MinRequests: 20},
		"with a low rate threshold": {Enabled: true, FailureThreshold: 5, FailureRate: 0.2, MinRequests: 20},
	}
	for name, cc := range configs {
		t.Run("4 failures, 100 successes, 1 failure do not open a breaker with threshold 5, "+name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := &scripted{id: "l"}
				m := newManager(t, l, listener.ListenerConfig{Circuit: cc})
				l.push(repeat(errBoom, 4)...)
				l.push(repeat(nil, 100)...)
				l.push(errBoom)
				for i, err := range attemptN(m, l, 105) {
					if errors.Is(err, listener.ErrCircuitOpen) {
						t.Fatalf("attempt %d refused: the breaker opened", i+1)
					}
				}
				if s := circuitOf(t, m, "l"); s != listener.CircuitClosed {
					t.Errorf("breaker is %v, want closed", s)
				}
				if h := m.Health().Listeners[0]; h.ConsecutiveFailures != 1 {
					t.Errorf("ConsecutiveFailures = %d, want 1", h.ConsecutiveFailures)
				}
			})
		})
	}
}

func TestBreakerOpensOnFailureRateOverTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		cc := listener.CircuitConfig{Enabled: true, FailureThreshold: 1000, FailureRate: 0.5, MinRequests: 10, Window: 10 * time.Second}
		m := newManager(t, l, listener.ListenerConfig{Circuit: cc})
		for range 4 {
			l.push(nil, errBoom) // 50% failures, never two in a row
		}
		attemptN(m, l, 8)
		if s := circuitOf(t, m, "l"); s != listener.CircuitClosed {
			t.Fatalf("after 8 attempts (below MinRequests) the breaker is %v, want closed", s)
		}
		l.push(nil, errBoom)
		attemptN(m, l, 2)
		if s := circuitOf(t, m, "l"); s != listener.CircuitOpen {
			t.Fatalf("after 5 failures in 10 attempts the breaker is %v, want open", s)
		}
	})
}

func TestBreakerWindowForgetsOldFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		cc := listener.CircuitConfig{Enabled: true, FailureThreshold: 1000, FailureRate: 0.5, MinRequests: 10, Window: 10 * time.Second}
		m := newManager(t, l, listener.ListenerConfig{Circuit: cc})
		for range 4 {
			l.push(nil, errBoom)
		}
		attemptN(m, l, 8)
		time.Sleep(11 * time.Second) // the 8 attempts slide out of the window
		l.push(nil, errBoom)
		attemptN(m, l, 2)
		if s := circuitOf(t, m, "l"); s != listener.CircuitClosed {
			t.Errorf("the breaker is %v, want closed: only 2 attempts are in the window", s)
		}
	})
}

// openBreaker returns a manager whose breaker for l is open, at the time
// the call returns.
func openBreaker(t *testing.T, l *scripted, cc listener.CircuitConfig) *listener.Manager {
	t.Helper()
	cc.Enabled = true
	cc.FailureThreshold = 1
	m := newManager(t, l, listener.ListenerConfig{Circuit: cc})
	l.push(errBoom)
	attemptN(m, l, 1)
	if s := circuitOf(t, m, l.id); s != listener.CircuitOpen {
		t.Fatalf("breaker is %v, want open", s)
	}
	return m
}

func TestBreakerHalfOpensAfterTheCoolDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		m := openBreaker(t, l, listener.CircuitConfig{CoolDown: 10 * time.Second})
		time.Sleep(10*time.Second - time.Nanosecond)
		var coe *listener.CircuitOpenError
		if err := attempt(m, context.Background(), l, event("x")); !errors.As(err, &coe) || coe.RetryAfter != time.Nanosecond {
			t.Fatalf("1ns before the end of the cool-down Attempt = %v, want ErrCircuitOpen with RetryAfter 1ns", err)
		}
		time.Sleep(time.Nanosecond)
		if s := circuitOf(t, m, "l"); s != listener.CircuitHalfOpen {
			t.Fatalf("after the cool-down the breaker is %v, want half-open", s)
		}
		if err := attempt(m, context.Background(), l, event("x")); err != nil {
			t.Fatalf("the probe failed: %v", err)
		}
		if s := circuitOf(t, m, "l"); s != listener.CircuitClosed {
			t.Errorf("after a successful probe the breaker is %v, want closed", s)
		}
		if l.count() != 2 {
			t.Errorf("handler called %d times, want 2", l.count())
		}
	})
}

func TestBreakerLetsOnlyTheConfiguredProbesThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls sync.WaitGroup
		calls.Add(1) // the failure that opens it
		var mu sync.Mutex
		fail := true
		l := shared.NewListener("l", func(ctx context.Context, e shared.Event) error {
			defer calls.Done()
			mu.Lock()
			f := fail
			fail = false
			mu.Unlock()
			if f {
				return errBoom
			}
			<-release
			return nil
		})
		cc := listener.CircuitConfig{Enabled: true, FailureThreshold: 1, CoolDown: time.Second, HalfOpenProbes: 2, SuccessThreshold: 2}
		m := newManager(t, l, listener.ListenerConfig{Circuit: cc})
		_ = attempt(m, context.Background(), l, event("open"))
		time.Sleep(time.Second)

		calls.Add(2)
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- attempt(m, context.Background(), l, event("probe")) }()
		}
		synctest.Wait() // both probes are inside the handler
		for i := range 3 {
			if err := attempt(m, context.Background(), l, event("extra")); !errors.Is(err, listener.ErrCircuitOpen) {
				t.Fatalf("extra attempt %d while 2 probes run = %v, want ErrCircuitOpen", i, err)
			}
		}
		close(release)
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("probe failed: %v", err)
			}
		}
		calls.Wait()
		if s := circuitOf(t, m, "l"); s != listener.CircuitClosed {
			t.Errorf("after 2 successful probes the breaker is %v, want closed", s)
		}
		if st := m.Stats().Listeners[0]; st.Attempts != 3 || st.Rejected != 3 {
			t.Errorf("Attempts=%d Rejected=%d, want 3 and 3", st.Attempts, st.Rejected)
		}
	})
}

func TestBreakerClosesOnlyAfterEnoughSuccesses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		m := openBreaker(t, l, listener.CircuitConfig{CoolDown: time.Second, SuccessThreshold: 3})
		time.Sleep(time.Second)
		for i := 1; i <= 3; i++ {
			if err := attempt(m, context.Background(), l, event("p")); err != nil {
				t.Fatalf("probe %d: %v", i, err)
			}
			want := listener.CircuitHalfOpen
			if i == 3 {
				want = listener.CircuitClosed
			}
			if s := circuitOf(t, m, "l"); s != want {
				t.Fatalf("after %d successful probes the breaker is %v, want %v", i, s, want)
			}
		}
	})
}

func TestBreakerFailedProbeReopensForAFreshCoolDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		m := openBreaker(t, l, listener.CircuitConfig{CoolDown: time.Second})
		time.Sleep(time.Second)
		l.push(errBoom)
		if err := attempt(m, context.Background(), l, event("p")); !errors.Is(err, errBoom) {
			t.Fatalf("probe = %v, want errBoom", err)
		}
		if s := circuitOf(t, m, "l"); s != listener.CircuitOpen {
			t.Fatalf("after a failed probe the breaker is %v, want open", s)
		}
		var coe *listener.CircuitOpenError
		if err := attempt(m, context.Background(), l, event("p")); !errors.As(err, &coe) || coe.RetryAfter != time.Second {
			t.Errorf("Attempt = %v, want ErrCircuitOpen with a fresh 1s cool-down", err)
		}
	})
}

func TestBreakerReportsStateChangesWithoutBlocking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type change struct{ from, to listener.CircuitState }
		got := make(chan change, 10)
		gate := make(chan struct{})
		l := &scripted{id: "l"}
		cc := listener.CircuitConfig{
			Enabled: true, FailureThreshold: 1, CoolDown: time.Second,
			OnStateChange: func(id string, from, to listener.CircuitState) {
				<-gate // a slow callback
				got <- change{from, to}
			},
		}
		m := newManager(t, l, listener.ListenerConfig{Circuit: cc})
		l.push(errBoom)
		attemptN(m, l, 1) // closed -> open, while the callback is stuck
		time.Sleep(time.Second)
		attemptN(m, l, 1) // open -> half-open -> closed
		close(gate)
		want := []change{
			{listener.CircuitClosed, listener.CircuitOpen},
			{listener.CircuitOpen, listener.CircuitHalfOpen},
			{listener.CircuitHalfOpen, listener.CircuitClosed},
		}
		for i, w := range want {
			if c := <-got; c != w {
				t.Errorf("change %d = %v -> %v, want %v -> %v", i, c.from, c.to, w.from, w.to)
			}
		}
	})
}

func TestBreakerIgnoresTheCallersOwnCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := shared.NewListener("l", func(ctx context.Context, e shared.Event) error {
			<-ctx.Done()
			return ctx.Err()
		})
		m := newManager(t, l, listener.ListenerConfig{Circuit: listener.CircuitConfig{Enabled: true, FailureThreshold: 1}})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for range 3 {
			_ = attempt(m, ctx, l, event("x"))
		}
		if s := circuitOf(t, m, "l"); s != listener.CircuitClosed {
			t.Errorf("breaker is %v after cancelled calls, want closed", s)
		}
	})
}

func TestCircuitEnumsHaveNames(t *testing.T) {
	for s, want := range map[listener.CircuitState]string{
		listener.CircuitClosed: "closed", listener.CircuitOpen: "open", listener.CircuitHalfOpen: "half-open", 7: "CircuitState(7)",
	} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
	if listener.HoldWhileOpen.String() != "hold" || listener.DeadLetterWhileOpen.String() != "dead-letter" {
		t.Error("OpenAction names are wrong")
	}
}

// A panicking IsFailure counts the error as a failure; the attempt still
// ends (in flight back to 0, its concurrency slot given back), so the caller
// gets the handler's error and Stop does not wait for a ghost attempt.
func TestPanickingIsFailureCountsAsAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		l.push(errBoom, errBoom)
		m := newManager(t, l, listener.ListenerConfig{
			Concurrency: 1,
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 1},
			Circuit: listener.CircuitConfig{Enabled: true, FailureThreshold: 2,
				IsFailure: func(error) bool { panic("classifier bug") }},
		})
		if err := attempt(m, context.Background(), l, event("a")); !errors.Is(err, errBoom) {
			t.Fatalf("Attempt = %v, want boom", err)
		}
		if err := m.Handle(context.Background(), l, event("b")); !errors.Is(err, errBoom) {
			t.Fatalf("Handle = %v, want boom (the slot given back, the panic recovered)", err)
		}
		st := m.Stats().Listeners[0]
		if st.InFlight != 0 || st.Attempts != 2 || st.Failures != 2 {
			t.Errorf("InFlight=%d Attempts=%d Failures=%d, want 0, 2, 2", st.InFlight, st.Attempts, st.Failures)
		}
		if st.Circuit != listener.CircuitOpen {
			t.Errorf("breaker is %v, want open: both failures counted", st.Circuit)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("Stop = %v, want nil at once", err)
		}
	})
}

// The asynchronous path owns the event: under HoldWhileOpen, Retry keeps a
// refused event scheduled until the cool-down is over, without using up its
// attempts, where Handle would return at once.
func TestTheVerdictHoldsEventsWhileTheCircuitIsOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		l.push(errBoom)
		m := newManager(t, l, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 2},
			Circuit:     listener.CircuitConfig{Enabled: true, FailureThreshold: 1, CoolDown: time.Minute},
			DeadLetter:  listener.DeadLetterConfig{Enabled: true},
		})
		rt := mustRoute(t, m, l)
		if v := rt.Attempt(context.Background(), event("opener"), 1); !errors.Is(v.Err, errBoom) {
			t.Fatal(v.Err)
		}
		v := rt.Attempt(context.Background(), event("x"), 1)
		if !errors.Is(v.Err, listener.ErrCircuitOpen) {
			t.Fatalf("Attempt = %v, want ErrCircuitOpen", v.Err)
		}
		if !v.Retry() || !v.Held() || v.Next() != 1 || v.Delay() != time.Minute {
			t.Fatalf("verdict %+v, want attempt 1 again after the 1m cool-down, held", v)
		}
		time.Sleep(v.Delay())
		if v := rt.Attempt(context.Background(), event("x"), v.Next()); v.Err != nil {
			t.Errorf("the probe = %v, want nil", v.Err)
		}
		if list, _ := m.DeadLetters(context.Background(), listener.DeadLetterFilter{}); len(list) != 0 {
			t.Errorf("dead letters %+v, want none", list)
		}
	})
}
