package listener_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

func TestRegisterRefusesNonsense(t *testing.T) {
	m := newManager(t, nil, listener.ListenerConfig{})
	ok := &scripted{id: "ok"}
	if err := m.Register(ok, listener.ListenerConfig{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		l    shared.Listener
		cfg  listener.ListenerConfig
		want error
	}{
		{"a nil listener", nil, listener.ListenerConfig{}, shared.ErrNilListener},
		{"an empty ID", &scripted{}, listener.ListenerConfig{}, shared.ErrInvalidListener},
		{"an ID already registered", &scripted{id: "ok"}, listener.ListenerConfig{}, listener.ErrAlreadyRegistered},
		{"a negative concurrency", &scripted{id: "x"}, listener.ListenerConfig{Concurrency: -1}, listener.ErrInvalidConfig},
		{"a negative timeout", &scripted{id: "x"}, listener.ListenerConfig{Timeout: -time.Second}, listener.ErrInvalidConfig},
		{"a shrinking multiplier", &scripted{id: "x"}, listener.ListenerConfig{RetryPolicy: listener.RetryPolicy{Multiplier: 0.5}}, listener.ErrInvalidConfig},
		{"an unknown backoff", &scripted{id: "x"}, listener.ListenerConfig{RetryPolicy: listener.RetryPolicy{Backoff: 42}}, listener.ErrInvalidConfig},
		{"a failure rate above 1", &scripted{id: "x"}, listener.ListenerConfig{Circuit: listener.CircuitConfig{Enabled: true, FailureRate: 2}}, listener.ErrInvalidConfig},
		{"fewer probes than needed successes", &scripted{id: "x"}, listener.ListenerConfig{Circuit: listener.CircuitConfig{Enabled: true, HalfOpenProbes: 1, SuccessThreshold: 3}}, listener.ErrInvalidConfig},
		{"an unknown open action", &scripted{id: "x"}, listener.ListenerConfig{Circuit: listener.CircuitConfig{Enabled: true, WhileOpen: 7}}, listener.ErrInvalidConfig},
		{"a dead-letter Handler without Enabled", &scripted{id: "x"}, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Handler: func(shared.Event, error) {}}}, listener.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run("Register refuses "+tt.name, func(t *testing.T) {
			if err := m.Register(tt.l, tt.cfg); !errors.Is(err, tt.want) {
				t.Errorf("Register = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLookupReturnsTheConfigWithDefaults(t *testing.T) {
	m := newManager(t, &scripted{id: "l"}, listener.ListenerConfig{Circuit: listener.CircuitConfig{Enabled: true, SuccessThreshold: 2}})
	cfg, ok := listener.ConfigOf(m, "l")
	if !ok {
		t.Fatal("l is not registered")
	}
	p, c := cfg.RetryPolicy, cfg.Circuit
	if cfg.Name != "l" || p.MaxAttempts != 3 || p.InitialDelay != 100*time.Millisecond || p.MaxDelay != 30*time.Second || p.Multiplier != 2 {
		t.Errorf("retry defaults not filled: %+v", cfg)
	}
	if c.FailureThreshold != 5 || c.CoolDown != 30*time.Second || c.HalfOpenProbes != 2 || cfg.DeadLetter.QueueSize != 256 {
		t.Errorf("circuit defaults not filled: %+v", c)
	}
	if _, ok := listener.ConfigOf(m, "nobody"); ok {
		t.Error("Lookup found an unregistered ID")
	}
}

func TestUnregisterRemovesThePolicy(t *testing.T) {
	l := &scripted{id: "l"}
	m := newManager(t, l, listener.ListenerConfig{Circuit: listener.CircuitConfig{Enabled: true, FailureThreshold: 1}})
	l.push(errBoom)
	attemptN(m, l, 1) // opens the breaker
	if err := m.Unregister("l"); err != nil {
		t.Fatal(err)
	}
	if err := attempt(m, context.Background(), l, event("x")); err != nil {
		t.Errorf("after Unregister the listener is still refused: %v", err)
	}
	if err := m.Unregister("l"); !errors.Is(err, shared.ErrListenerNotFound) {
		t.Errorf("second Unregister = %v, want ErrListenerNotFound", err)
	}
	if err := m.Register(l, listener.ListenerConfig{}); err != nil {
		t.Errorf("registering again: %v", err)
	}
}

func TestStopWaitsForAttemptsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		l := shared.NewListener("l", func(ctx context.Context, e shared.Event) error { <-release; return nil })
		m := listener.NewManager(listener.ManagerConfig{})
		_ = m.Register(l, listener.ListenerConfig{})
		go func() { _ = attempt(m, context.Background(), l, event("x")) }()
		synctest.Wait()
		stopped := make(chan error)
		go func() { stopped <- m.Stop(context.Background()) }()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("Stop returned while an attempt was running")
		default:
		}
		close(release)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
	})
}

func TestStopDrainsPendingRetriesOfHandle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &timedListener{id: "l", fail: 1, err: errBoom}
		m := listener.NewManager(listener.ManagerConfig{})
		_ = m.Register(l, listener.ListenerConfig{RetryPolicy: listener.RetryPolicy{InitialDelay: time.Second, Jitter: listener.JitterNone}})
		handled := make(chan error)
		go func() { handled <- m.Handle(context.Background(), l, event("x")) }()
		synctest.Wait() // Handle waits for its retry
		start := time.Now()
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != time.Second {
			t.Errorf("Stop took %v, want 1s: it must wait for the retry", took)
		}
		if err := <-handled; err != nil {
			t.Errorf("Handle = %v, want nil: the retry succeeds", err)
		}
	})
}

func TestStopOutOfTimeDeadLettersWaitingRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &timedListener{id: "l", fail: 100, err: errBoom}
		sink := newSink()
		m := listener.NewManager(listener.ManagerConfig{})
		_ = m.Register(l, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{InitialDelay: time.Hour},
			DeadLetter:  listener.DeadLetterConfig{Enabled: true, Handler: sink.handler},
		})
		handled := make(chan error)
		go func() { handled <- m.Handle(context.Background(), l, event("x")) }()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := m.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Stop = %v, want DeadlineExceeded", err)
		}
		err := <-handled
		if !errors.Is(err, listener.ErrClosed) || !errors.Is(err, errBoom) || errors.Is(err, shared.ErrRetryLimitExceeded) {
			t.Errorf("Handle = %v, want ErrClosed wrapping errBoom", err)
		}
		if list, _ := m.DeadLetters(context.Background(), listener.DeadLetterFilter{}); len(list) != 1 {
			t.Errorf("%d dead letters, want the abandoned event", len(list))
		}
	})
}

func TestStopDrainsTheDeadLetterQueueAndCanGiveUp(t *testing.T) {
	t.Run("a stop with time drains every queued dead letter", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var handled atomic.Int64
			l := &scripted{id: "l"}
			m := listener.NewManager(listener.ManagerConfig{})
			_ = m.Register(l, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true, Handler: func(shared.Event, error) {
				time.Sleep(10 * time.Millisecond)
				handled.Add(1)
			}}})
			for range 5 {
				giveUp(m, l, event("x"), errBoom)
			}
			if err := m.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			if handled.Load() != 5 {
				t.Errorf("handled %d, want 5", handled.Load())
			}
		})
	})
	t.Run("a stop out of time skips the rest, which stay stored", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			gate := make(chan struct{})
			l := &scripted{id: "l"}
			m := listener.NewManager(listener.ManagerConfig{})
			_ = m.Register(l, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true, Handler: func(shared.Event, error) { <-gate }}})
			for range 5 {
				giveUp(m, l, event("x"), errBoom)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := m.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Stop = %v, want DeadlineExceeded", err)
			}
			close(gate)
			synctest.Wait() // the goroutine ends after its current call
			st := m.Stats()
			if st.DeadLetterHandlerSkipped != 4 || st.DeadLettersInStore != 5 {
				t.Errorf("Skipped=%d InStore=%d, want 4 and 5", st.DeadLetterHandlerSkipped, st.DeadLettersInStore)
			}
		})
	})
}

func TestManagerIsRestartable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newSink()
		l := &scripted{id: "l"}
		m := listener.NewManager(listener.ManagerConfig{})
		_ = m.Register(l, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true, Handler: sink.handler}})
		if err := m.Start(); err != nil {
			t.Fatalf("Start on a new manager: %v", err)
		}
		giveUp(m, l, event("before"), errBoom)
		<-sink.seen
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := m.Stop(context.Background()); err != nil {
			t.Errorf("second Stop = %v", err)
		}
		giveUp(m, l, event("while-stopped"), errBoom)
		if err := attempt(m, context.Background(), l, event("x")); err != nil {
			t.Errorf("Attempt after Stop = %v", err)
		}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		giveUp(m, l, event("after"), errBoom)
		<-sink.seen
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := m.Unregister("l"); err != nil {
			t.Errorf("Unregister after Stop: %v", err)
		}
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if len(sink.ids) != 2 || sink.ids[0] != "before" || sink.ids[1] != "after" {
			t.Errorf("handler saw %v, want before and after", sink.ids)
		}
		if st := m.Stats(); st.DeadLettersInStore != 3 {
			t.Errorf("store holds %d, want 3: the one dead-lettered while stopped is kept", st.DeadLettersInStore)
		}
	})
}

func TestNextTellsTheBusWhatToDo(t *testing.T) {
	l := &scripted{id: "l"}
	m := newManager(t, l, listener.ListenerConfig{
		RetryPolicy: listener.RetryPolicy{MaxAttempts: 2, Jitter: listener.JitterNone},
		Circuit:     listener.CircuitConfig{Enabled: true, FailureThreshold: 1, CoolDown: time.Minute},
	})
	if d, ok := next(m, l, 1, errBoom); !ok || d != 100*time.Millisecond {
		t.Errorf("Next(1) = %v, %v", d, ok)
	}
	if _, ok := next(m, l, 2, errBoom); ok {
		t.Error("Next(2) retried past MaxAttempts")
	}
	open := &listener.CircuitOpenError{ListenerID: "l", RetryAfter: 42 * time.Second}
	if d, ok := next(m, l, 2, open); !ok || d != 42*time.Second {
		t.Errorf("Next on an open circuit = %v, %v, want hold for 42s", d, ok)
	}
	if d, ok := next(m, &scripted{id: "other"}, 1, errBoom); !ok || d > 100*time.Millisecond {
		t.Errorf("Next for an unregistered listener = %v, %v, want the default policy", d, ok)
	}
}

// A zero Manager works like NewManager(ManagerConfig{}): no nil-registry
// panic in Register, Stop, Health or anywhere else.
func TestZeroManagerIsUsable(t *testing.T) {
	t.Run("every method works on a zero Manager", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			type call struct {
				name string
				fn   func(m *listener.Manager)
			}
			l := &scripted{id: "l"}
			calls := []call{
				{"Register", func(m *listener.Manager) { _ = m.Register(l, listener.ListenerConfig{}) }},
				{"Unregister", func(m *listener.Manager) { _ = m.Unregister("l") }},
				{"Start", func(m *listener.Manager) { _ = m.Start() }},
				{"Stop", func(m *listener.Manager) { _ = m.Stop(context.Background()) }},
				{"Route", func(m *listener.Manager) { _ = attempt(m, context.Background(), l, event("x")) }},
				{"Handle", func(m *listener.Manager) { _ = m.Handle(context.Background(), l, event("x")) }},
				{"Route.DeadLetter", func(m *listener.Manager) { giveUp(m, l, event("x"), errBoom) }},
				{"DeadLetters", func(m *listener.Manager) { _, _ = m.DeadLetters(context.Background(), listener.DeadLetterFilter{}) }},
				{"InspectDeadLetter", func(m *listener.Manager) { _, _ = m.InspectDeadLetter(context.Background(), "dl-1") }},
				{"RemoveDeadLetter", func(m *listener.Manager) { _ = m.RemoveDeadLetter(context.Background(), "dl-1") }},
				{"Redrive", func(m *listener.Manager) {
					_ = m.Redrive(context.Background(), "dl-1", func(context.Context, shared.Event) error { return nil })
				}},
				{"RedriveAll", func(m *listener.Manager) {
					_, _ = m.RedriveAll(context.Background(), listener.DeadLetterFilter{}, func(context.Context, shared.Event) error { return nil })
				}},
				{"Stats", func(m *listener.Manager) { m.Stats() }},
				{"Health", func(m *listener.Manager) { m.Health() }},
				{"HealthHandler", func(m *listener.Manager) { m.HealthHandler() }},
			}
			for _, c := range calls {
				var m listener.Manager
				func() {
					defer func() {
						if v := recover(); v != nil {
							t.Errorf("%s on a zero Manager panicked: %v", c.name, v)
						}
					}()
					c.fn(&m)
				}()
				if err := m.Stop(context.Background()); err != nil {
					t.Errorf("Stop after %s: %v", c.name, err)
				}
			}
		})
	})
	t.Run("a zero Manager applies policies and dead letters", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var m listener.Manager
			l := &scripted{id: "l"}
			l.push(errBoom, errBoom)
			if err := m.Register(l, listener.ListenerConfig{RetryPolicy: listener.RetryPolicy{MaxAttempts: 2}, DeadLetter: listener.DeadLetterConfig{Enabled: true}}); err != nil {
				t.Fatal(err)
			}
			if err := m.Handle(context.Background(), l, event("x")); !errors.Is(err, shared.ErrRetryLimitExceeded) {
				t.Errorf("Handle = %v, want ErrRetryLimitExceeded", err)
			}
			if h := m.Health(); len(h.Listeners) != 1 || h.Status != listener.Degraded {
				t.Errorf("Health = %+v", h)
			}
			if st := m.Stats(); st.DeadLettersInStore != 1 || st.Listeners[0].Attempts != 2 {
				t.Errorf("Stats = %+v", st)
			}
			if err := m.Stop(context.Background()); err != nil {
				t.Error(err)
			}
		})
	})
}

// Route.Attempt takes a one-frame path for a registration with nothing to
// enforce per attempt; it must account for an attempt as the general path
// does: counted, failures recorded for Health, a success resetting the run
// of failures, nothing left in flight.
func TestRouteAttemptOnAPlainRegistrationIsAccountedFor(t *testing.T) {
	ctx := context.Background()
	m := listener.NewManager(listener.ManagerConfig{})
	fail := errors.New("down")
	var err error
	l := shared.NewBaseListener("plain", func(shared.Event) error { return err })
	if rerr := m.Register(l, listener.ListenerConfig{}); rerr != nil {
		t.Fatal(rerr)
	}
	rt, rerr := m.Route(l, listener.RouteConfig{})
	if rerr != nil {
		t.Fatal(rerr)
	}
	e := shared.NewBaseEvent("e1", "t", nil)
	err = fail
	for range 2 {
		if v := rt.Attempt(ctx, e, 1); !rt.Registered() || !errors.Is(v.Err, fail) {
			t.Fatalf("Attempt = %v, want %v", v.Err, fail)
		}
	}
	h := m.Health().Listeners[0]
	if h.ConsecutiveFailures != 2 || h.LastError == "" {
		t.Errorf("after two failures: %+v", h)
	}
	err = nil
	if v := rt.Attempt(ctx, e, 1); v.Err != nil {
		t.Fatalf("Attempt = %v, want nil", v.Err)
	}
	s := m.Stats().Listeners[0]
	if s.Attempts != 3 || s.Failures != 2 || s.Successes != 1 || s.InFlight != 0 {
		t.Errorf("stats %+v, want 3 attempts, 2 failures, 1 success, none in flight", s)
	}
	if h := m.Health().Listeners[0]; h.ConsecutiveFailures != 0 {
		t.Errorf("a success left %d consecutive failures", h.ConsecutiveFailures)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
