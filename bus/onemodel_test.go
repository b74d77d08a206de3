package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// One delivery model: the same scenario, run through every dispatcher
// (Emit, EmitAsync, bus.Publish on each delivery mode), with the listener
// registered with the manager or governed by the dispatcher's own policy,
// gives the same handler calls, the same listener stats and the same dead
// letter (attempt count, errors.Is targets) in the manager's store.

var errModel = errors.New("model: boom")

// modelStats are the ListenerStats fields every path must agree on.
type modelStats struct {
	Attempts, Successes, Failures, Timeouts, Panics, Rejected, Retries, DeadLettered uint64
}

func modelStatsOf(s listener.ListenerStats) modelStats {
	return modelStats{s.Attempts, s.Successes, s.Failures, s.Timeouts, s.Panics, s.Rejected, s.Retries, s.DeadLettered}
}

type modelDeadLetter struct {
	attempts int
	is       []error // errors.Is targets that must match
	isNot    []error // and must not
}

type modelOutcome struct {
	calls int
	stats modelStats
	dead  *modelDeadLetter // nil: nothing dead-lettered
}

type modelScenario struct {
	name    string
	handler func(ctx context.Context, call int) error
	cfg     listener.ListenerConfig // the registration, or the dispatcher's policy
	// registeredOnly: the scenario needs a registration (a circuit breaker).
	registeredOnly bool
	want           modelOutcome // every mode that retries
	once           modelOutcome // AtMostOnce
}

var modelRetry = listener.RetryPolicy{MaxAttempts: 3, InitialDelay: 10 * time.Millisecond, Jitter: listener.JitterNone}

func modelScenarios() []modelScenario {
	enabled := listener.DeadLetterConfig{Enabled: true}
	plain := listener.ListenerConfig{RetryPolicy: modelRetry, DeadLetter: enabled}
	timed := plain
	timed.Timeout = 50 * time.Millisecond
	neverRetry := plain
	neverRetry.RetryPolicy.RetryCondition = func(error) bool { return false }
	failOnce := func(_ context.Context, call int) error {
		if call == 1 {
			return errModel
		}
		return nil
	}
	failing := func(context.Context, int) error { return errModel }
	exhausted := func(target error) *modelDeadLetter {
		return &modelDeadLetter{attempts: 3, is: []error{target, shared.ErrRetryLimitExceeded}}
	}
	givenUpAt1 := func(target error) *modelDeadLetter {
		return &modelDeadLetter{attempts: 1, is: []error{target}, isNot: []error{shared.ErrRetryLimitExceeded}}
	}
	onceFailed := modelOutcome{calls: 1, stats: modelStats{Attempts: 1, Failures: 1, DeadLettered: 1}, dead: givenUpAt1(errModel)}
	return []modelScenario{
		{
			name: "an error then a success", handler: failOnce, cfg: plain,
			want: modelOutcome{calls: 2, stats: modelStats{Attempts: 2, Successes: 1, Failures: 1, Retries: 1}},
			once: onceFailed,
		},
		{
			name: "always an error", handler: failing, cfg: plain,
			want: modelOutcome{calls: 3, stats: modelStats{Attempts: 3, Failures: 3, Retries: 2, DeadLettered: 1}, dead: exhausted(errModel)},
			once: onceFailed,
		},
		{
			name: "a permanent error", cfg: plain,
			handler: func(context.Context, int) error { return shared.Permanent(errModel) },
			want:    onceFailed, once: onceFailed,
		},
		{
			name: "a panic", cfg: plain,
			handler: func(context.Context, int) error { panic("model panic") },
			want: modelOutcome{calls: 3, stats: modelStats{Attempts: 3, Failures: 3, Panics: 3, Retries: 2, DeadLettered: 1},
				dead: exhausted(shared.ErrListenerPanic)},
			once: modelOutcome{calls: 1, stats: modelStats{Attempts: 1, Failures: 1, Panics: 1, DeadLettered: 1},
				dead: givenUpAt1(shared.ErrListenerPanic)},
		},
		{
			// Probe 2 of the issue: a late nil is a success, on every path,
			// so ExactlyOnce never runs completed work again.
			name: "a timeout with a late nil", cfg: timed,
			handler: func(context.Context, int) error { time.Sleep(80 * time.Millisecond); return nil },
			want:    modelOutcome{calls: 1, stats: modelStats{Attempts: 1, Successes: 1}},
			once:    modelOutcome{calls: 1, stats: modelStats{Attempts: 1, Successes: 1}},
		},
		{
			name: "a timeout with a late error", cfg: timed,
			handler: func(context.Context, int) error { time.Sleep(80 * time.Millisecond); return errModel },
			want: modelOutcome{calls: 3, stats: modelStats{Attempts: 3, Failures: 3, Timeouts: 3, Retries: 2, DeadLettered: 1},
				dead: exhausted(shared.ErrTimeout)},
			once: modelOutcome{calls: 1, stats: modelStats{Attempts: 1, Failures: 1, Timeouts: 1, DeadLettered: 1},
				dead: givenUpAt1(shared.ErrTimeout)},
		},
		{
			// Probe 1 of the issue: refused by the open breaker after one
			// attempt, the dead letter says one attempt, not exhausted.
			name: "a breaker open in DeadLetterWhileOpen mode", handler: failing, registeredOnly: true,
			cfg: listener.ListenerConfig{
				RetryPolicy: listener.RetryPolicy{MaxAttempts: 5, InitialDelay: 10 * time.Millisecond, Jitter: listener.JitterNone},
				Circuit:     listener.CircuitConfig{Enabled: true, FailureThreshold: 1, CoolDown: time.Minute, WhileOpen: listener.DeadLetterWhileOpen},
				DeadLetter:  enabled,
			},
			want: modelOutcome{calls: 1, stats: modelStats{Attempts: 1, Failures: 1, Rejected: 1, Retries: 1, DeadLettered: 1},
				dead: &modelDeadLetter{attempts: 1, is: []error{listener.ErrCircuitOpen}, isNot: []error{shared.ErrRetryLimitExceeded}}},
			once: onceFailed,
		},
		{
			name: "a breaker open in HoldWhileOpen mode", handler: failOnce, registeredOnly: true,
			cfg: listener.ListenerConfig{
				RetryPolicy: modelRetry,
				Circuit:     listener.CircuitConfig{Enabled: true, FailureThreshold: 1, CoolDown: time.Second},
				DeadLetter:  enabled,
			},
			want: modelOutcome{calls: 2, stats: modelStats{Attempts: 2, Successes: 1, Failures: 1, Retries: 1}},
			once: onceFailed,
		},
		{
			name: "a retry condition that says no", handler: failing, cfg: neverRetry,
			want: onceFailed, once: onceFailed,
		},
	}
}

type modelDispatcher struct {
	name string
	once bool // AtMostOnce
	// run delivers one event to l and returns once everything is settled.
	// It reports false when the dispatcher cannot apply a policy to an
	// unregistered listener.
	run func(t *testing.T, lm *listener.Manager, l shared.Listener, policy *listener.ListenerConfig) bool
}

func modelDispatchers() []modelDispatcher {
	ev := func() shared.Event { return shared.NewBaseEvent("e1", "model.event", nil) }
	emit := func(async bool) func(*testing.T, *listener.Manager, shared.Listener, *listener.ListenerConfig) bool {
		return func(t *testing.T, lm *listener.Manager, l shared.Listener, policy *listener.ListenerConfig) bool {
			cfg := emitter.Config{Listeners: lm}
			if policy != nil && !withEmitterPolicy(&cfg, policy.RetryPolicy, policy.DeadLetter, policy.Timeout) {
				return false
			}
			em := emitter.New(cfg)
			em.Subscribe("model.event", l)
			if async {
				if err := em.EmitAsync(context.Background(), ev()); err != nil {
					t.Fatalf("EmitAsync: %v", err)
				}
			} else {
				_ = em.Emit(context.Background(), ev()) // the listener's error is expected
			}
			if err := em.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			return true
		}
	}
	publish := func(mode bus.DeliveryMode) func(*testing.T, *listener.Manager, shared.Listener, *listener.ListenerConfig) bool {
		return func(t *testing.T, lm *listener.Manager, l shared.Listener, policy *listener.ListenerConfig) bool {
			b := bus.New(bus.Config{Listeners: lm})
			tc := bus.TopicConfig{Partitions: 1, DeliveryMode: mode}
			if policy != nil {
				tc.RetryPolicy, tc.DeadLetter, tc.HandlerTimeout = policy.RetryPolicy, policy.DeadLetter, policy.Timeout
			}
			mustCreate(t, b, "model", tc)
			mustSubscribe(t, b, "model", l)
			mustPublish(t, b, "model", ev())
			shutdown(t, b)
			return true
		}
	}
	return []modelDispatcher{
		{name: "Emit", run: emit(false)},
		{name: "EmitAsync", run: emit(true)},
		{name: "Publish AtLeastOnce", run: publish(bus.AtLeastOnce)},
		{name: "Publish ExactlyOnce", run: publish(bus.ExactlyOnce)},
		{name: "Publish AtMostOnce", run: publish(bus.AtMostOnce), once: true},
	}
}

func TestEveryDispatcherFollowsOneDeliveryModel(t *testing.T) {
	for _, sc := range modelScenarios() {
		for _, d := range modelDispatchers() {
			for _, registered := range []bool{true, false} {
				if !registered && sc.registeredOnly {
					continue
				}
				how := "registered with the manager"
				if !registered {
					how = "under the dispatcher's policy"
				}
				t.Run(fmt.Sprintf("%s through %s, %s", sc.name, d.name, how), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						runModelCase(t, sc, d, registered)
					})
				})
			}
		}
	}
}

func runModelCase(t *testing.T, sc modelScenario, d modelDispatcher, registered bool) {
	var calls atomic.Int32
	l := shared.NewListener("model-listener", func(ctx context.Context, e shared.Event) error {
		return sc.handler(ctx, int(calls.Add(1)))
	})
	lm := listener.NewManager(listener.ManagerConfig{})
	defer func() { _ = lm.Stop(context.Background()) }()
	var policy *listener.ListenerConfig
	if registered {
		if err := lm.Register(l, sc.cfg); err != nil {
			t.Fatal(err)
		}
	} else {
		policy = &sc.cfg
	}
	if !d.run(t, lm, l, policy) {
		t.Skip("this dispatcher has no policy for unregistered listeners")
	}
	want := sc.want
	if d.once {
		want = sc.once
	}
	if got := int(calls.Load()); got != want.calls {
		t.Errorf("handler called %d times, want %d", got, want.calls)
	}
	st := lm.Stats()
	ls, wantStats := st.Unregistered, want.stats
	if registered {
		ls = st.Listeners[0]
	} else {
		// Only the failed attempts of unregistered listeners are counted.
		wantStats.Attempts, wantStats.Successes = wantStats.Failures, 0
	}
	if got := modelStatsOf(ls); got != wantStats {
		t.Errorf("listener stats\n got %+v\nwant %+v", got, wantStats)
	}
	list, err := lm.DeadLetters(context.Background(), listener.DeadLetterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if want.dead == nil {
		if len(list) != 0 {
			t.Errorf("dead letters %+v, want none", list)
		}
		return
	}
	if len(list) != 1 {
		t.Fatalf("%d dead letters in the manager's store, want 1: %+v", len(list), list)
	}
	dl := list[0]
	if dl.Attempts != want.dead.attempts {
		t.Errorf("dead letter after %d attempts, want %d: %v", dl.Attempts, want.dead.attempts, dl.Err)
	}
	for _, target := range want.dead.is {
		if !errors.Is(dl.Err, target) {
			t.Errorf("dead letter %v does not match %v", dl.Err, target)
		}
	}
	for _, target := range want.dead.isNot {
		if errors.Is(dl.Err, target) {
			t.Errorf("dead letter %v matches %v", dl.Err, target)
		}
	}
}

// modelMetrics counts the hook calls of one kind.
type modelMetrics struct {
	shared.NopMetrics
	mu      sync.Mutex
	handled int
	retried int
	dead    int
}

func (m *modelMetrics) EventHandled(string, string, string, time.Duration, error) {
	m.mu.Lock()
	m.handled++
	m.mu.Unlock()
}

func (m *modelMetrics) EventRetried(string, string) {
	m.mu.Lock()
	m.retried++
	m.mu.Unlock()
}

func (m *modelMetrics) EventDeadLettered(string, string) {
	m.mu.Lock()
	m.dead++
	m.mu.Unlock()
}

// One Metrics handed to both a bus and its listener manager counts each
// attempt, retry and dead letter once.
func TestOneMetricsOnBusAndManagerCountsEachAttemptOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &modelMetrics{}
		lm := listener.NewManager(listener.ManagerConfig{Metrics: m})
		defer func() { _ = lm.Stop(context.Background()) }()
		l := shared.NewBaseListener("l", func(shared.Event) error { return errModel })
		if err := lm.Register(l, listener.ListenerConfig{RetryPolicy: modelRetry, DeadLetter: listener.DeadLetterConfig{Enabled: true}}); err != nil {
			t.Fatal(err)
		}
		b := bus.New(bus.Config{Listeners: lm, Metrics: m})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1})
		mustSubscribe(t, b, "t", l)
		mustPublish(t, b, "t", shared.NewBaseEvent("e1", "x", nil))
		shutdown(t, b)
		if m.handled != 3 || m.retried != 2 || m.dead != 1 {
			t.Errorf("handled %d, retried %d, dead-lettered %d; want 3, 2, 1", m.handled, m.retried, m.dead)
		}
	})
}
