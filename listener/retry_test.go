package listener_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

func TestDelayIsExactForEachStrategyWithoutJitter(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		policy listener.RetryPolicy
		want   []time.Duration // Delay(1), Delay(2), ...
	}{
		{
			name:   "exponential doubles from the initial delay",
			policy: listener.RetryPolicy{InitialDelay: 100 * ms, Jitter: listener.JitterNone},
			want:   []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms},
		},
		{
			name:   "exponential with multiplier 3 triples",
			policy: listener.RetryPolicy{InitialDelay: 10 * ms, Multiplier: 3, Jitter: listener.JitterNone},
			want:   []time.Duration{10 * ms, 30 * ms, 90 * ms, 270 * ms, 810 * ms},
		},
		{
			name:   "exponential with multiplier 1.5",
			policy: listener.RetryPolicy{InitialDelay: 100 * ms, Multiplier: 1.5, Jitter: listener.JitterNone},
			want:   []time.Duration{100 * ms, 150 * ms, 225 * ms, 337500 * time.Microsecond},
		},
		{
			name:   "exponential is capped by MaxDelay",
			policy: listener.RetryPolicy{InitialDelay: 100 * ms, MaxDelay: 500 * ms, Jitter: listener.JitterNone},
			want:   []time.Duration{100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms},
		},
		{
			name:   "fixed waits the initial delay every time",
			policy: listener.RetryPolicy{InitialDelay: 250 * ms, Backoff: listener.BackoffFixed, Jitter: listener.JitterNone},
			want:   []time.Duration{250 * ms, 250 * ms, 250 * ms, 250 * ms},
		},
		{
			name:   "linear grows by the initial delay",
			policy: listener.RetryPolicy{InitialDelay: 100 * ms, Backoff: listener.BackoffLinear, Jitter: listener.JitterNone},
			want:   []time.Duration{100 * ms, 200 * ms, 300 * ms, 400 * ms, 500 * ms},
		},
		{
			name:   "linear is capped by MaxDelay",
			policy: listener.RetryPolicy{InitialDelay: 100 * ms, MaxDelay: 250 * ms, Backoff: listener.BackoffLinear, Jitter: listener.JitterNone},
			want:   []time.Duration{100 * ms, 200 * ms, 250 * ms, 250 * ms},
		},
		{
			name:   "the zero policy starts at 100ms and doubles",
			policy: listener.RetryPolicy{Jitter: listener.JitterNone},
			want:   []time.Duration{100 * ms, 200 * ms, 400 * ms},
		},
		{
			name:   "an initial delay above the cap waits the cap",
			policy: listener.RetryPolicy{InitialDelay: time.Minute, MaxDelay: time.Second, Jitter: listener.JitterNone},
			want:   []time.Duration{time.Second, time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, want := range tt.want {
				if got := tt.policy.Delay(i + 1); got != want {
					t.Errorf("Delay(%d) = %v, want %v", i+1, got, want)
				}
			}
		})
	}
}

func TestExponentialBackoffIsReallyExponential(t *testing.T) {
	// kolosys/nova computed InitialDelay * n*n and called it exponential:
	// 1, 4, 9, 16, 25 ... Exponential growth keeps a constant ratio.
	p := listener.RetryPolicy{InitialDelay: time.Millisecond, MaxDelay: time.Hour, Jitter: listener.JitterNone}
	for n := 1; n < 20; n++ {
		if ratio := float64(p.Delay(n+1)) / float64(p.Delay(n)); ratio != 2 {
			t.Fatalf("Delay(%d)/Delay(%d) = %v, want 2", n+1, n, ratio)
		}
	}
	if got, want := p.Delay(11), 1024*time.Millisecond; got != want {
		t.Errorf("Delay(11) = %v, want %v (quadratic would be %v)", got, want, 121*time.Millisecond)
	}
}

func TestDelayNeverOverflows(t *testing.T) {
	for _, b := range []listener.BackoffStrategy{listener.BackoffExponential, listener.BackoffLinear, listener.BackoffFixed} {
		p := listener.RetryPolicy{Backoff: b, InitialDelay: time.Second, MaxDelay: time.Hour, Multiplier: 10, Jitter: listener.JitterNone}
		for _, n := range []int{-5, 0, 1, 63, 64, 1000, 1 << 40} {
			if d := p.Delay(n); d <= 0 || d > time.Hour {
				t.Errorf("%v: Delay(%d) = %v, want within (0, 1h]", b, n, d)
			}
		}
	}
}

func TestJitterStaysWithinItsBounds(t *testing.T) {
	const d = 1000 * time.Millisecond
	tests := []struct {
		mode     listener.JitterMode
		low, top time.Duration
	}{
		{listener.JitterFull, 0, d},
		{listener.JitterEqual, d / 2, d},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v jitter stays in [%v, %v] and spreads over it", tt.mode, tt.low, tt.top), func(t *testing.T) {
			p := listener.RetryPolicy{InitialDelay: d, Backoff: listener.BackoffFixed, Jitter: tt.mode}
			lo, hi := time.Duration(1<<62), time.Duration(0)
			for range 20000 {
				got := p.Delay(1)
				if got < tt.low || got > tt.top {
					t.Fatalf("Delay = %v, outside [%v, %v]", got, tt.low, tt.top)
				}
				lo, hi = min(lo, got), max(hi, got)
			}
			span := tt.top - tt.low
			if lo > tt.low+span/20 || hi < tt.top-span/20 {
				t.Errorf("20000 draws only covered [%v, %v] of [%v, %v]: jitter is not uniform", lo, hi, tt.low, tt.top)
			}
		})
	}
	t.Run("jitter is on by default", func(t *testing.T) {
		p := listener.RetryPolicy{}
		seen := map[time.Duration]bool{}
		for range 100 {
			seen[p.Delay(1)] = true
		}
		if len(seen) < 50 {
			t.Errorf("100 default delays took only %d distinct values", len(seen))
		}
	})
}

var errTemporary = errors.New("temporary failure")

func TestNextDecidesRetries(t *testing.T) {
	other := errors.New("other")
	none := listener.JitterNone
	tests := []struct {
		name      string
		policy    listener.RetryPolicy
		n         int
		err       error
		wantRetry bool
		wantDelay time.Duration
	}{
		{"a first failure is retried after the initial delay", listener.RetryPolicy{Jitter: none}, 1, other, true, 100 * time.Millisecond},
		{"the second failure waits twice as long", listener.RetryPolicy{Jitter: none}, 2, other, true, 200 * time.Millisecond},
		{"MaxAttempts counts every attempt, the first included", listener.RetryPolicy{Jitter: none}, 3, other, false, 0},
		{"MaxAttempts 1 never retries", listener.RetryPolicy{MaxAttempts: 1}, 1, other, false, 0},
		{"MaxAttempts 5 retries the fourth failure", listener.RetryPolicy{MaxAttempts: 5, Jitter: none}, 4, other, true, 800 * time.Millisecond},
		{"success is not retried", listener.RetryPolicy{}, 1, nil, false, 0},
		{"a permanent error is never retried", listener.RetryPolicy{MaxAttempts: 10}, 1, shared.Permanent(other), false, 0},
		{"a wrapped permanent error is never retried", listener.RetryPolicy{MaxAttempts: 10}, 1, fmt.Errorf("x: %w", shared.Permanent(other)), false, 0},
		{"shared.ErrPermanent itself is never retried", listener.RetryPolicy{MaxAttempts: 10}, 1, shared.ErrPermanent, false, 0},
		{"RetryCondition refusing stops retries", listener.RetryPolicy{RetryCondition: func(err error) bool { return errors.Is(err, errTemporary) }}, 1, other, false, 0},
		{"RetryCondition accepting allows retries", listener.RetryPolicy{RetryCondition: func(err error) bool { return errors.Is(err, errTemporary) }, Jitter: none}, 1, fmt.Errorf("db: %w", errTemporary), true, 100 * time.Millisecond},
		{"RetryCondition cannot revive a permanent error", listener.RetryPolicy{RetryCondition: func(error) bool { return true }}, 1, shared.Permanent(errTemporary), false, 0},
		{"RetryableErrors matches with errors.Is", listener.RetryPolicy{RetryableErrors: []error{errTemporary}, Jitter: none}, 1, fmt.Errorf("db: %w", errTemporary), true, 100 * time.Millisecond},
		{"RetryableErrors refuses other errors", listener.RetryPolicy{RetryableErrors: []error{errTemporary}}, 1, other, false, 0},
		{"an open circuit is retried whatever RetryCondition says", listener.RetryPolicy{RetryCondition: func(error) bool { return false }, Jitter: none}, 1, &listener.CircuitOpenError{ListenerID: "x"}, true, 100 * time.Millisecond},
		{"an open circuit still respects MaxAttempts", listener.RetryPolicy{}, 3, listener.ErrCircuitOpen, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, retry := tt.policy.Next(tt.n, tt.err)
			if retry != tt.wantRetry || d != tt.wantDelay {
				t.Errorf("Next(%d, %v) = (%v, %v), want (%v, %v)", tt.n, tt.err, d, retry, tt.wantDelay, tt.wantRetry)
			}
		})
	}
}

func TestEnumsHaveNames(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{listener.BackoffExponential.String(), "exponential"},
		{listener.BackoffFixed.String(), "fixed"},
		{listener.BackoffLinear.String(), "linear"},
		{listener.BackoffStrategy(9).String(), "BackoffStrategy(9)"},
		{listener.JitterFull.String(), "full"},
		{listener.JitterEqual.String(), "equal"},
		{listener.JitterNone.String(), "none"},
		{listener.JitterMode(-1).String(), "JitterMode(-1)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}

func TestRetryPolicyDoesNotAllocate(t *testing.T) {
	p := listener.RetryPolicy{RetryableErrors: []error{errTemporary}}
	err := fmt.Errorf("x: %w", errTemporary)
	if n := testing.AllocsPerRun(100, func() { p.Next(1, err) }); n != 0 {
		t.Errorf("Next allocates %v times per call", n)
	}
}

// Delay must neither panic nor overflow, whatever the policy and n: full
// jitter on a MaxDelay of math.MaxInt64 used to overflow rand.Int64N's bound.
func TestDelayIsSafeForExtremeValues(t *testing.T) {
	const maxDur = time.Duration(math.MaxInt64)
	durations := []time.Duration{-time.Second, 0, 1, time.Second, maxDur / 2, maxDur - 1, maxDur}
	multipliers := []float64{0, 1, 1.5, 2, 1e10, 1e300, math.MaxFloat64, math.Inf(1), math.NaN(), -3}
	ns := []int{math.MinInt, -1, 0, 1, 2, 31, 62, 63, 64, 65, 1000, 1 << 40, math.MaxInt - 1, math.MaxInt}
	for _, b := range []listener.BackoffStrategy{listener.BackoffExponential, listener.BackoffFixed, listener.BackoffLinear} {
		for _, j := range []listener.JitterMode{listener.JitterFull, listener.JitterEqual, listener.JitterNone} {
			for _, initial := range durations {
				for _, maxDelay := range durations {
					for _, mult := range multipliers {
						p := listener.RetryPolicy{Backoff: b, Jitter: j, InitialDelay: initial, MaxDelay: maxDelay, Multiplier: mult}
						limit := maxDelay
						if limit <= 0 {
							limit = listener.DefaultMaxDelay
						}
						prev := time.Duration(0)
						for _, n := range ns {
							base := p.BaseDelay(n)
							if base <= 0 || base > limit || base < prev {
								t.Fatalf("%+v: BaseDelay(%d) = %v after %v, want non-decreasing within (0, %v]", p, n, base, prev, limit)
							}
							prev = base
							if d := p.Delay(n); d < 0 || d > base {
								t.Fatalf("%+v: Delay(%d) = %v, want within [0, %v]", p, n, d, base)
							}
						}
					}
				}
			}
		}
	}
}

// A RetryCondition that panics is a bug in the caller's policy: it must not
// crash a synchronous caller, nor leave an asynchronous one waiting. The
// event is not retried and is dead-lettered with the panic and its stack.
func TestPanickingRetryConditionMeansNotRetryable(t *testing.T) {
	cfg := func(sink *deadLetterSink) listener.ListenerConfig {
		return listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 5, RetryCondition: func(err error) bool { panic("condition bug") }},
			DeadLetter:  listener.DeadLetterConfig{Enabled: true, Handler: sink.handler},
		}
	}
	check := func(t *testing.T, err error) {
		t.Helper()
		var re *listener.RetryError
		var cpe *listener.CallbackPanicError
		if !errors.As(err, &re) || re.Attempts != 1 || errors.Is(err, shared.ErrRetryLimitExceeded) {
			t.Errorf("error = %v, want a *RetryError after 1 attempt, not exhausted", err)
		}
		if !errors.Is(err, listener.ErrCallbackPanic) || !errors.As(err, &cpe) || cpe.Value != "condition bug" ||
			cpe.Callback != "RetryPolicy.RetryCondition" || !strings.Contains(string(cpe.Stack), "retry_test.go") || !errors.Is(err, errBoom) {
			t.Errorf("error = %v, want a *CallbackPanicError with the stack, wrapping boom", err)
		}
	}
	t.Run("through Handle, the caller gets the dead-lettered error back", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := &scripted{id: "l"}
			l.push(errBoom)
			sink := newSink()
			m := newManager(t, l, cfg(sink))
			err := m.Handle(context.Background(), l, event("x"))
			check(t, err)
			<-sink.seen
			check(t, sink.got[0])
			if l.count() != 1 {
				t.Errorf("handler called %d times, want 1", l.count())
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := m.Stop(ctx); err != nil {
				t.Errorf("Stop = %v, want nil at once", err)
			}
		})
	})
	t.Run("RetryPolicy.Retryable and Next report not retryable", func(t *testing.T) {
		p := cfg(newSink()).RetryPolicy
		if p.Retryable(errBoom) {
			t.Error("Retryable = true")
		}
		if _, retry := p.Next(1, errBoom); retry {
			t.Error("Next retried")
		}
	})
}
