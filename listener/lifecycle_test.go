package listener_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	cfg, ok := m.Lookup("l")
	if !ok {
		t.Fatal("Lookup did not find l")
	}
	p, c := cfg.RetryPolicy, cfg.Circuit
	if cfg.Name != "l" || p.MaxAttempts != 3 || p.InitialDelay != 100*time.Millisecond || p.MaxDelay != 30*time.Second || p.Multiplier != 2 {
		t.Errorf("retry defaults not filled: %+v", cfg)
	}
	if c.FailureThreshold != 5 || c.CoolDown != 30*time.Second || c.HalfOpenProbes != 2 || cfg.DeadLetter.QueueSize != 256 {
		t.Errorf("circuit defaults not filled: %+v", c)
	}
	if _, ok := m.Lookup("nobody"); ok {
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
	if err := m.Attempt(context.Background(), l, event("x")); err != nil {
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
		go func() { _ = m.Attempt(context.Background(), l, event("x")) }()
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
		if !errors.Is(err, listener.ErrStopped) || !errors.Is(err, errBoom) || errors.Is(err, shared.ErrRetryLimitExceeded) {
			t.Errorf("Handle = %v, want ErrStopped wrapping errBoom", err)
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
				m.DeadLetter(l, event("x"), errBoom)
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
				m.DeadLetter(l, event("x"), errBoom)
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
		m.DeadLetter(l, event("before"), errBoom)
		<-sink.seen
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := m.Stop(context.Background()); err != nil {
			t.Errorf("second Stop = %v", err)
		}
		m.DeadLetter(l, event("while-stopped"), errBoom)
		if err := m.Attempt(context.Background(), l, event("x")); err != nil {
			t.Errorf("Attempt after Stop = %v", err)
		}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		m.DeadLetter(l, event("after"), errBoom)
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

func TestRetryHandsWorkBackAfterTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		m := listener.NewManager(listener.ManagerConfig{})
		_ = m.Register(l, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Second, Jitter: listener.JitterNone},
			DeadLetter:  listener.DeadLetterConfig{Enabled: true},
		})
		start := time.Now()
		type call struct {
			n  int
			at time.Duration
		}
		calls := make(chan call, 10)
		var again func(n int)
		again = func(n int) {
			calls <- call{n, time.Since(start)}
			if !m.Retry(l, event("x"), n, errBoom, again) { // attempt n failed too
				close(calls)
			}
		}
		if !m.Retry(l, event("x"), 1, errBoom, again) {
			t.Fatal("Retry refused the first retry")
		}
		if m.PendingRetries() != 1 {
			t.Errorf("PendingRetries = %d, want 1", m.PendingRetries())
		}
		var got []call
		for c := range calls {
			got = append(got, c)
		}
		want := []call{{2, time.Second}, {3, 3 * time.Second}}
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("again called %v, want %v", got, want)
		}
		if list, _ := m.DeadLetters(context.Background(), listener.DeadLetterFilter{}); len(list) != 1 || list[0].Attempts != 3 {
			t.Errorf("dead letters %+v, want one after 3 attempts", list)
		}
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if m.Retry(l, event("y"), 1, errBoom, again) {
			t.Error("Retry after Stop returned true")
		}
		list, _ := m.DeadLetters(context.Background(), listener.DeadLetterFilter{})
		if len(list) != 2 || !errors.Is(list[1].Err, listener.ErrStopped) {
			t.Errorf("Retry after Stop must dead-letter with ErrStopped: %+v", list)
		}
	})
}

func TestStopWaitsForScheduledRetriesOrDeadLettersThem(t *testing.T) {
	for _, outOfTime := range []bool{false, true} {
		name := "Stop waits for a scheduled retry to be handed back"
		if outOfTime {
			name = "Stop out of time dead-letters a scheduled retry"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := &scripted{id: "l"}
				m := listener.NewManager(listener.ManagerConfig{})
				_ = m.Register(l, listener.ListenerConfig{
					RetryPolicy: listener.RetryPolicy{InitialDelay: 10 * time.Second, Jitter: listener.JitterNone},
					DeadLetter:  listener.DeadLetterConfig{Enabled: true},
				})
				var mu sync.Mutex
				var handedBack []int
				m.Retry(l, event("x"), 1, errBoom, func(n int) { mu.Lock(); handedBack = append(handedBack, n); mu.Unlock() })
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if outOfTime {
					cancel()
				}
				defer cancel()
				err := m.Stop(ctx)
				mu.Lock()
				defer mu.Unlock()
				list, _ := m.DeadLetters(context.Background(), listener.DeadLetterFilter{})
				if outOfTime {
					// Abandoned: dead-lettered, and handed back with 0 so the owner stops waiting.
					if !errors.Is(err, context.Canceled) || len(handedBack) != 1 || handedBack[0] != 0 || len(list) != 1 || !errors.Is(list[0].Err, listener.ErrStopped) {
						t.Errorf("Stop = %v, handed back %v, dead letters %+v", err, handedBack, list)
					}
					return
				}
				if err != nil || len(handedBack) != 1 || handedBack[0] != 2 || len(list) != 0 {
					t.Errorf("Stop = %v, handed back %v, dead letters %d", err, handedBack, len(list))
				}
			})
		})
	}
}

func TestNextTellsTheBusWhatToDo(t *testing.T) {
	l := &scripted{id: "l"}
	m := newManager(t, l, listener.ListenerConfig{
		RetryPolicy: listener.RetryPolicy{MaxAttempts: 2, Jitter: listener.JitterNone},
		Circuit:     listener.CircuitConfig{Enabled: true, FailureThreshold: 1, CoolDown: time.Minute},
	})
	if d, ok := m.Next(l, 1, errBoom); !ok || d != 100*time.Millisecond {
		t.Errorf("Next(1) = %v, %v", d, ok)
	}
	if _, ok := m.Next(l, 2, errBoom); ok {
		t.Error("Next(2) retried past MaxAttempts")
	}
	open := &listener.CircuitOpenError{ListenerID: "l", RetryAfter: 42 * time.Second}
	if d, ok := m.Next(l, 2, open); !ok || d != 42*time.Second {
		t.Errorf("Next on an open circuit = %v, %v, want hold for 42s", d, ok)
	}
	if d, ok := m.Next(&scripted{id: "other"}, 1, errBoom); !ok || d > 100*time.Millisecond {
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
				{"Lookup", func(m *listener.Manager) { m.Lookup("l") }},
				{"Start", func(m *listener.Manager) { _ = m.Start() }},
				{"Stop", func(m *listener.Manager) { _ = m.Stop(context.Background()) }},
				{"Attempt", func(m *listener.Manager) { _ = m.Attempt(context.Background(), l, event("x")) }},
				{"Handle", func(m *listener.Manager) { _ = m.Handle(context.Background(), l, event("x")) }},
				{"Next", func(m *listener.Manager) { m.Next(l, 1, errBoom) }},
				{"Retry", func(m *listener.Manager) { m.Retry(l, event("x"), 3, errBoom, func(int) {}) }},
				{"PendingRetries", func(m *listener.Manager) { m.PendingRetries() }},
				{"DeadLetter", func(m *listener.Manager) { m.DeadLetter(l, event("x"), errBoom) }},
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
				{"Bind", func(m *listener.Manager) { _, _ = m.Bind("l").Handle(context.Background(), l, event("x")) }},
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

// Retries scheduled with Retry are bounded: past MaxPendingRetries the
// event is dead-lettered with ErrRetryQueueFull and counted, not queued.
func TestRetryQueueIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		m := listener.NewManager(listener.ManagerConfig{MaxPendingRetries: 2})
		defer func() {
			if err := m.Stop(context.Background()); err != nil {
				t.Error(err)
			}
		}()
		if err := m.Register(l, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 5, InitialDelay: time.Second, Jitter: listener.JitterNone},
			DeadLetter:  listener.DeadLetterConfig{Enabled: true},
		}); err != nil {
			t.Fatal(err)
		}
		var handedBack atomic.Int64
		again := func(int) { handedBack.Add(1) }
		for i, want := range []bool{true, true, false, false} {
			if got := m.Retry(l, event(fmt.Sprint("e", i)), 1, errBoom, again); got != want {
				t.Errorf("Retry #%d = %v, want %v", i+1, got, want)
			}
		}
		st := m.Stats()
		if st.PendingRetries != 2 || st.RetryQueueOverflow != 2 || st.RetriesScheduled != 2 {
			t.Errorf("pending=%d overflow=%d scheduled=%d, want 2, 2, 2", st.PendingRetries, st.RetryQueueOverflow, st.RetriesScheduled)
		}
		list, _ := m.DeadLetters(context.Background(), listener.DeadLetterFilter{})
		if len(list) != 2 {
			t.Fatalf("dead letters %+v, want the 2 overflowing events", list)
		}
		for i, d := range list {
			var re *listener.RetryError
			if id := fmt.Sprint("e", i+2); d.Event.ID() != id || !errors.Is(d.Err, listener.ErrRetryQueueFull) || !errors.Is(d.Err, errBoom) ||
				errors.Is(d.Err, shared.ErrRetryLimitExceeded) || !errors.As(d.Err, &re) || d.Attempts != 1 {
				t.Errorf("dead letter %d = %s %v (attempts %d), want %s with ErrRetryQueueFull after 1 attempt", i, d.Event.ID(), d.Err, d.Attempts, id)
			}
		}
		// Once the scheduled ones are handed back, there is room again.
		time.Sleep(time.Second)
		synctest.Wait()
		if handedBack.Load() != 2 || m.PendingRetries() != 0 {
			t.Fatalf("handed back %d, pending %d", handedBack.Load(), m.PendingRetries())
		}
		if !m.Retry(l, event("later"), 1, errBoom, again) {
			t.Error("Retry refused with room in the queue")
		}
	})
}

func TestMaxPendingRetriesDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		m := newManager(t, l, listener.ListenerConfig{RetryPolicy: listener.RetryPolicy{InitialDelay: time.Hour}})
		for i := range listener.DefaultMaxPendingRetries {
			if !m.Retry(l, event("x"), 1, errBoom, func(int) {}) {
				t.Fatalf("Retry #%d refused below the default bound", i+1)
			}
		}
		if m.Retry(l, event("x"), 1, errBoom, func(int) {}) {
			t.Error("Retry beyond DefaultMaxPendingRetries was scheduled")
		}
		if st := m.Stats(); st.RetryQueueOverflow != 1 || st.PendingRetries != listener.DefaultMaxPendingRetries {
			t.Errorf("overflow=%d pending=%d", st.RetryQueueOverflow, st.PendingRetries)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = m.Stop(ctx) // abandons the 10000 retries; the cleanup's Stop then returns nil
	})
}

// Binding.Attempt takes a one-frame path for a registration with nothing to
// enforce per attempt; it must account for an attempt as Manager.Attempt
// does: counted, failures recorded for Health, a success resetting the run
// of failures, nothing left in flight.
func TestBindingAttemptOnAPlainRegistrationIsAccountedFor(t *testing.T) {
	ctx := context.Background()
	m := listener.NewManager(listener.ManagerConfig{})
	fail := errors.New("down")
	var err error
	l := shared.NewBaseListener("plain", func(shared.Event) error { return err })
	if rerr := m.Register(l, listener.ListenerConfig{}); rerr != nil {
		t.Fatal(rerr)
	}
	b := m.Bind("plain")
	e := shared.NewBaseEvent("e1", "t", nil)
	err = fail
	for range 2 {
		if managed, got := b.Attempt(ctx, l, e); !managed || !errors.Is(got, fail) {
			t.Fatalf("Attempt = %v, %v; want true, %v", managed, got, fail)
		}
	}
	h := m.Health().Listeners[0]
	if h.ConsecutiveFailures != 2 || h.LastError == "" {
		t.Errorf("after two failures: %+v", h)
	}
	err = nil
	if managed, got := b.Attempt(ctx, l, e); !managed || got != nil {
		t.Fatalf("Attempt = %v, %v; want true, nil", managed, got)
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
