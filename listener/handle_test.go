package listener_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// timedListener fails its first `fail` calls with err and records when each
// call happened, relative to the first.
type timedListener struct {
	id   string
	fail int
	err  error
	mu   sync.Mutex
	at   []time.Time
}

func (l *timedListener) ID() string { return l.id }
func (l *timedListener) Handle(context.Context, shared.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at = append(l.at, time.Now())
	if len(l.at) <= l.fail {
		return l.err
	}
	return nil
}

func (l *timedListener) offsets() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for _, t := range l.at {
		out = append(out, t.Sub(l.at[0]))
	}
	return out
}

type deadLetterSink struct {
	mu   sync.Mutex
	got  []error
	ids  []string
	seen chan struct{}
}

func newSink() *deadLetterSink { return &deadLetterSink{seen: make(chan struct{}, 1000)} }

func (s *deadLetterSink) handler(e shared.Event, err error) {
	s.mu.Lock()
	s.got = append(s.got, err)
	s.ids = append(s.ids, e.ID())
	s.mu.Unlock()
	s.seen <- struct{}{}
}

func TestHandleWaitsTheExactBackoffOfEachStrategy(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		policy listener.RetryPolicy
		want   []time.Duration // when each attempt starts
	}{
		{"exponential", listener.RetryPolicy{MaxAttempts: 5, InitialDelay: 100 * ms, Jitter: listener.JitterNone},
			[]time.Duration{0, 100 * ms, 300 * ms, 700 * ms, 1500 * ms}},
		{"fixed", listener.RetryPolicy{MaxAttempts: 4, InitialDelay: 100 * ms, Backoff: listener.BackoffFixed, Jitter: listener.JitterNone},
			[]time.Duration{0, 100 * ms, 200 * ms, 300 * ms}},
		{"linear", listener.RetryPolicy{MaxAttempts: 4, InitialDelay: 100 * ms, Backoff: listener.BackoffLinear, Jitter: listener.JitterNone},
			[]time.Duration{0, 100 * ms, 300 * ms, 600 * ms}},
		{"exponential capped", listener.RetryPolicy{MaxAttempts: 5, InitialDelay: 100 * ms, MaxDelay: 250 * ms, Jitter: listener.JitterNone},
			[]time.Duration{0, 100 * ms, 300 * ms, 550 * ms, 800 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" backoff waits exactly between attempts", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := &timedListener{id: "l", fail: 100, err: errBoom}
				sink := newSink()
				m := newManager(t, l, listener.ListenerConfig{
					RetryPolicy: tt.policy,
					DeadLetter:  listener.DeadLetterConfig{Enabled: true, Handler: sink.handler},
				})
				err := m.Handle(context.Background(), l, event("e1"))
				if got := l.offsets(); !slices.Equal(got, tt.want) {
					t.Errorf("attempts at %v, want %v", got, tt.want)
				}
				var re *listener.RetryError
				if !errors.As(err, &re) || re.Attempts != len(tt.want) || !errors.Is(err, shared.ErrRetryLimitExceeded) || !errors.Is(err, errBoom) {
					t.Fatalf("Handle = %v, want a *RetryError after %d attempts matching ErrRetryLimitExceeded and errBoom", err, len(tt.want))
				}
				<-sink.seen
				if !errors.Is(sink.got[0], errBoom) || sink.ids[0] != "e1" {
					t.Errorf("dead letter handler got %v for %v", sink.got, sink.ids)
				}
			})
		})
	}
}

func TestHandleJitteredWaitsStayWithinBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &timedListener{id: "l", fail: 100, err: errBoom}
		m := newManager(t, l, listener.ListenerConfig{RetryPolicy: listener.RetryPolicy{
			MaxAttempts: 6, InitialDelay: 100 * time.Millisecond, Jitter: listener.JitterEqual,
		}})
		_ = m.Handle(context.Background(), l, event("e"))
		at := l.offsets()
		for i := 1; i < len(at); i++ {
			wait, base := at[i]-at[i-1], 100*time.Millisecond<<(i-1)
			if wait < base/2 || wait > base {
				t.Errorf("wait %d = %v, want within [%v, %v]", i, wait, base/2, base)
			}
		}
	})
}

func TestHandleSucceedsOnARetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &timedListener{id: "l", fail: 2, err: errBoom}
		sink := newSink()
		m := newManager(t, l, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true, Handler: sink.handler}})
		if err := m.Handle(context.Background(), l, event("e")); err != nil {
			t.Fatalf("Handle = %v, want nil on the third attempt", err)
		}
		st := m.Stats()
		if ls := st.Listeners[0]; ls.Attempts != 3 || ls.Retries != 2 || ls.DeadLettered != 0 || st.DeadLettersInStore != 0 {
			t.Errorf("stats = %+v, want 3 attempts, 2 retries, no dead letter", ls)
		}
	})
}

func TestHandleStopsAtNonRetryableErrors(t *testing.T) {
	errTemp := errors.New("temporary failure")
	tests := []struct {
		name   string
		err    error
		policy listener.RetryPolicy
	}{
		{"a permanent error is dead-lettered after one attempt", shared.Permanent(errBoom), listener.RetryPolicy{MaxAttempts: 5}},
		{"an error RetryCondition refuses is dead-lettered after one attempt", errBoom,
			listener.RetryPolicy{MaxAttempts: 5, RetryCondition: func(err error) bool { return errors.Is(err, errTemp) }}},
		{"an error outside RetryableErrors is dead-lettered after one attempt", errBoom,
			listener.RetryPolicy{MaxAttempts: 5, RetryableErrors: []error{errTemp}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := &timedListener{id: "l", fail: 100, err: tt.err}
				m := newManager(t, l, listener.ListenerConfig{RetryPolicy: tt.policy, DeadLetter: listener.DeadLetterConfig{Enabled: true}})
				err := m.Handle(context.Background(), l, event("e"))
				if len(l.offsets()) != 1 {
					t.Errorf("handler called %d times, want 1", len(l.offsets()))
				}
				if errors.Is(err, shared.ErrRetryLimitExceeded) || !errors.Is(err, errBoom) {
					t.Errorf("Handle = %v, want errBoom without ErrRetryLimitExceeded", err)
				}
				if dl, _ := m.DeadLetters(context.Background(), listener.DeadLetterFilter{}); len(dl) != 1 || dl[0].Attempts != 1 {
					t.Errorf("dead letters = %+v, want one after 1 attempt", dl)
				}
			})
		})
	}
}

func TestHandleGivesUpWhenCtxEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &timedListener{id: "l", fail: 100, err: errBoom}
		m := newManager(t, l, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 10, InitialDelay: time.Second, Jitter: listener.JitterNone},
			DeadLetter:  listener.DeadLetterConfig{Enabled: true},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := m.Handle(ctx, l, event("e"))
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errBoom) {
			t.Errorf("Handle = %v, want DeadlineExceeded and errBoom", err)
		}
		if took := time.Since(start); took != 1500*time.Millisecond {
			t.Errorf("Handle returned after %v, want 1.5s", took)
		}
		if n := m.Stats().DeadLettersInStore; n != 0 {
			t.Errorf("%d dead letters, want none: the caller decides", n)
		}
	})
}

// Handle's caller still has the event: an open breaker under the default
// HoldWhileOpen hands it back at once (no 30s cool-down wait) with an error
// matching ErrCircuitOpen, and nothing is dead-lettered.
func TestHandleReturnsAtOnceWhileTheCircuitIsOpen(t *testing.T) {
	t.Run("a Handle refused by the open breaker returns ErrCircuitOpen at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := &timedListener{id: "l", fail: 1, err: errBoom}
			sink := newSink()
			m := newManager(t, l, listener.ListenerConfig{
				RetryPolicy: listener.RetryPolicy{MaxAttempts: 3},
				Circuit:     listener.CircuitConfig{Enabled: true, FailureThreshold: 1}, // default 30s cool-down, HoldWhileOpen
				DeadLetter:  listener.DeadLetterConfig{Enabled: true, Handler: sink.handler},
			})
			if err := attempt(m, context.Background(), l, event("opener")); !errors.Is(err, errBoom) {
				t.Fatalf("Attempt = %v, want boom (opening the breaker)", err)
			}
			start := time.Now()
			err := m.Handle(context.Background(), l, event("e"))
			var coe *listener.CircuitOpenError
			if !errors.Is(err, listener.ErrCircuitOpen) || !errors.As(err, &coe) || coe.RetryAfter != listener.DefaultCoolDown {
				t.Fatalf("Handle = %v, want a *CircuitOpenError with RetryAfter %v", err, listener.DefaultCoolDown)
			}
			if waited := time.Since(start); waited != 0 {
				t.Errorf("Handle blocked for %v, want an immediate return", waited)
			}
			var re *listener.RetryError
			if errors.As(err, &re) {
				t.Errorf("Handle = %v: a held event must not be given up", err)
			}
			synctest.Wait()
			st := m.Stats()
			if st.DeadLettersInStore != 0 || len(sink.ids) != 0 || st.Listeners[0].Rejected != 1 {
				t.Errorf("InStore=%d handled=%v Rejected=%d, want no dead letter and 1 rejection", st.DeadLettersInStore, sink.ids, st.Listeners[0].Rejected)
			}
			if len(l.offsets()) != 1 {
				t.Errorf("handler called %d times, want 1 (the opener)", len(l.offsets()))
			}
			// After the cool-down the caller tries again, and the probe closes it.
			time.Sleep(coe.RetryAfter)
			if err := m.Handle(context.Background(), l, event("e")); err != nil {
				t.Errorf("Handle after the cool-down = %v, want nil", err)
			}
		})
	})
	t.Run("a Handle whose own failure opens the breaker returns at once with both errors", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := &timedListener{id: "l", fail: 1, err: errBoom}
			m := newManager(t, l, listener.ListenerConfig{
				RetryPolicy: listener.RetryPolicy{MaxAttempts: 3, InitialDelay: 100 * time.Millisecond, Jitter: listener.JitterNone},
				Circuit:     listener.CircuitConfig{Enabled: true, FailureThreshold: 1, CoolDown: time.Second},
				DeadLetter:  listener.DeadLetterConfig{Enabled: true},
			})
			start := time.Now()
			err := m.Handle(context.Background(), l, event("e"))
			if !errors.Is(err, listener.ErrCircuitOpen) || !errors.Is(err, errBoom) {
				t.Fatalf("Handle = %v, want ErrCircuitOpen wrapping the handler's boom", err)
			}
			if waited := time.Since(start); waited != 0 {
				t.Errorf("Handle waited %v for a retry the breaker would refuse", waited)
			}
			if st := m.Stats(); st.DeadLettersInStore != 0 || st.Listeners[0].Retries != 0 {
				t.Errorf("InStore=%d Retries=%d, want 0 and 0", st.DeadLettersInStore, st.Listeners[0].Retries)
			}
		})
	})
	t.Run("a Handle whose retry meets the half-open breaker's probes all taken returns at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			probe := make(chan struct{})
			var calls atomic.Int64
			l := shared.NewListener("l", func(ctx context.Context, e shared.Event) error {
				switch calls.Add(1) {
				case 1:
					return errBoom // opens the breaker
				case 2:
					<-probe // the probe, holding the only half-open slot
				}
				return nil
			})
			m := newManager(t, l, listener.ListenerConfig{
				Circuit: listener.CircuitConfig{Enabled: true, FailureThreshold: 1, CoolDown: time.Second},
			})
			_ = attempt(m, context.Background(), l, event("opener"))
			time.Sleep(time.Second)
			done := make(chan error)
			go func() { done <- attempt(m, context.Background(), l, event("probe")) }()
			synctest.Wait()
			err := m.Handle(context.Background(), l, event("e"))
			var coe *listener.CircuitOpenError
			if !errors.As(err, &coe) || coe.RetryAfter != 0 {
				t.Errorf("Handle = %v, want a *CircuitOpenError (half-open, RetryAfter 0)", err)
			}
			close(probe)
			if err := <-done; err != nil {
				t.Errorf("probe = %v", err)
			}
		})
	})
}

func TestHandleDeadLettersWhileTheCircuitIsOpenWhenConfigured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &timedListener{id: "l", fail: 1, err: errBoom}
		sink := newSink()
		m := newManager(t, l, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 5},
			Circuit:     listener.CircuitConfig{Enabled: true, FailureThreshold: 1, WhileOpen: listener.DeadLetterWhileOpen},
			DeadLetter:  listener.DeadLetterConfig{Enabled: true, Handler: sink.handler},
		})
		_ = m.Handle(context.Background(), l, event("first")) // fails, opens
		err := m.Handle(context.Background(), l, event("second"))
		var re *listener.RetryError
		if !errors.Is(err, listener.ErrCircuitOpen) || !errors.As(err, &re) || re.Attempts != 0 {
			t.Fatalf("Handle = %v, want ErrCircuitOpen after 0 attempts", err)
		}
		<-sink.seen
		<-sink.seen
		if !slices.Equal(sink.ids, []string{"first", "second"}) {
			t.Errorf("dead letters %v, want first and second", sink.ids)
		}
	})
}

// Seed 001: a RetryCondition on temporary errors and a dead-letter handler.
func TestSeedRetryAndDeadLetterFlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			ErrTemporary = errors.New("temporary failure")
			ErrPermanent = errors.New("permanent failure")
		)
		var calls sync.Map
		handler := shared.NewBaseListener("handler", func(event shared.Event) error {
			n, _ := calls.LoadOrStore(event.ID(), new(int))
			*n.(*int)++
			switch event.ID() {
			case "flaky":
				return fmt.Errorf("service unavailable: %w", ErrTemporary)
			case "bad":
				return fmt.Errorf("invalid data: %w", ErrPermanent)
			}
			return nil
		})
		lm := listener.NewManager(listener.ManagerConfig{})
		dead := make(chan deadLetter, 2)
		err := lm.Register(handler, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{
				MaxAttempts: 3,
				RetryCondition: func(err error) bool {
					return errors.Is(err, ErrTemporary)
				},
			},
			DeadLetter: listener.DeadLetterConfig{
				Enabled: true,
				Handler: func(event shared.Event, err error) {
					dead <- deadLetter{event.ID(), err}
				},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		returned := map[string]error{}
		for _, id := range []string{"ok", "flaky", "bad"} {
			returned[id] = lm.Handle(context.Background(), handler, shared.NewBaseEvent(id, "order.created", nil))
		}
		want := map[string]int{"ok": 1, "flaky": 3, "bad": 1}
		for id, n := range want {
			got, _ := calls.Load(id)
			if *got.(*int) != n {
				t.Errorf("%s handled %d times, want %d", id, *got.(*int), n)
			}
		}
		if err := lm.Stop(context.Background()); err != nil { // drains the dead-letter handler
			t.Fatal(err)
		}
		close(dead)
		var got []deadLetter
		for d := range dead {
			got = append(got, d)
		}
		if len(got) != 2 || got[0].id != "flaky" || got[1].id != "bad" {
			t.Fatalf("dead letters for %v, want flaky then bad", got)
		}
		// flaky: retried until the attempts ran out.
		var re *listener.RetryError
		if err := got[0].err; !errors.Is(err, ErrTemporary) || !errors.Is(err, shared.ErrRetryLimitExceeded) ||
			!errors.As(err, &re) || re.Attempts != 3 || re.EventID != "flaky" {
			t.Errorf("flaky dead-lettered with %v, want a *RetryError after 3 attempts matching ErrTemporary and ErrRetryLimitExceeded", err)
		}
		// bad: not retryable, given up after its first attempt.
		if err := got[1].err; !errors.Is(err, ErrPermanent) || errors.Is(err, shared.ErrRetryLimitExceeded) ||
			!errors.As(err, &re) || re.Attempts != 1 || re.EventID != "bad" {
			t.Errorf("bad dead-lettered with %v, want a *RetryError after 1 attempt matching ErrPermanent only", err)
		}
		// Handle returns what it dead-lettered.
		if returned["ok"] != nil || returned["flaky"] != got[0].err || returned["bad"] != got[1].err {
			t.Errorf("Handle returned %v, want nil and the dead-lettered errors", returned)
		}
	})
}

type deadLetter struct {
	id  string
	err error
}

func TestHandleRetriesAPanickingHandlerThenDeadLettersItWithTheStack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		l := shared.NewBaseListener("p", func(shared.Event) error { calls.Add(1); panic("kaboom") })
		sink := newSink()
		m := newManager(t, l, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 3},
			DeadLetter:  listener.DeadLetterConfig{Enabled: true, Handler: sink.handler},
		})
		err := m.Handle(context.Background(), l, event("x"))
		var re *listener.RetryError
		var pe *shared.PanicError
		if !errors.As(err, &re) || re.Attempts != 3 || !errors.Is(err, shared.ErrRetryLimitExceeded) {
			t.Fatalf("Handle = %v, want a *RetryError after 3 attempts", err)
		}
		if !errors.As(err, &pe) || pe.Value != "kaboom" || !strings.Contains(string(pe.Stack), "handle_test.go") {
			t.Fatalf("Handle = %v, want it to carry the *shared.PanicError with the handler's stack", err)
		}
		if calls.Load() != 3 {
			t.Errorf("handler called %d times, want 3", calls.Load())
		}
		<-sink.seen
		list, _ := m.DeadLetters(context.Background(), listener.DeadLetterFilter{})
		if len(list) != 1 || list[0].Attempts != 3 || !errors.As(list[0].Err, &pe) || len(pe.Stack) == 0 || !errors.Is(sink.got[0], shared.ErrListenerPanic) {
			t.Errorf("dead letters %+v (handler got %v), want one with the panic and its stack after 3 attempts", list, sink.got)
		}
		if st := m.Stats().Listeners[0]; st.Panics != 3 || st.DeadLettered != 1 {
			t.Errorf("Panics=%d DeadLettered=%d, want 3 and 1", st.Panics, st.DeadLettered)
		}
	})
}

func TestHandleOfAnUnregisteredListenerUsesTheDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &timedListener{id: "l", fail: 100, err: errBoom}
		m := newManager(t, nil, listener.ListenerConfig{})
		err := m.Handle(context.Background(), l, event("e"))
		if !errors.Is(err, shared.ErrRetryLimitExceeded) || len(l.offsets()) != listener.DefaultMaxAttempts {
			t.Errorf("Handle = %v after %d attempts, want ErrRetryLimitExceeded after %d", err, len(l.offsets()), listener.DefaultMaxAttempts)
		}
		if d := m.Stats().Unregistered.DeadLettersDiscarded; d != 1 {
			t.Errorf("DeadLettersDiscarded = %d, want 1", d)
		}
	})
}
