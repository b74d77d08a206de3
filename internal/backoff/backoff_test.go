package backoff_test

import (
	"math"
	"testing"
	"time"

	"github.com/novaevents/nova/internal/backoff"
)

func TestBaseGrowsAsTheGrowthSays(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		p    backoff.Policy
		want []time.Duration // Base(1), Base(2), ...
	}{
		{"exponential doubles up to the cap", backoff.Policy{Initial: 100 * ms, Max: 500 * ms, Multiplier: 2}, []time.Duration{100 * ms, 200 * ms, 400 * ms, 500 * ms}},
		{"fixed stays put", backoff.Policy{Initial: 100 * ms, Max: time.Second, Growth: backoff.Fixed}, []time.Duration{100 * ms, 100 * ms, 100 * ms}},
		{"linear adds Initial each time", backoff.Policy{Initial: 100 * ms, Max: 250 * ms, Growth: backoff.Linear}, []time.Duration{100 * ms, 200 * ms, 250 * ms}},
		{"a multiplier below 1 counts as 1", backoff.Policy{Initial: 100 * ms, Max: time.Second, Multiplier: 0.5}, []time.Duration{100 * ms, 100 * ms}},
		{"an Initial past Max gives Max", backoff.Policy{Initial: time.Second, Max: 10 * ms, Multiplier: 2}, []time.Duration{10 * ms, 10 * ms}},
		{"no Initial, no wait", backoff.Policy{Max: time.Second, Multiplier: 2}, []time.Duration{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, want := range tt.want {
				if got := tt.p.Base(i + 1); got != want {
					t.Errorf("Base(%d) = %v, want %v", i+1, got, want)
				}
			}
		})
	}
}

func TestBaseNeverOverflows(t *testing.T) {
	p := backoff.Policy{Initial: math.MaxInt64 / 2, Max: math.MaxInt64, Multiplier: math.MaxFloat64}
	for _, n := range []int{0, 1, 2, 64, math.MaxInt} {
		if d := p.Base(n); d < 0 {
			t.Errorf("Base(%d) = %v", n, d)
		}
	}
	lin := backoff.Policy{Initial: time.Hour, Max: math.MaxInt64, Growth: backoff.Linear}
	if d := lin.Base(math.MaxInt); d != math.MaxInt64 {
		t.Errorf("linear Base(MaxInt) = %v, want the cap", d)
	}
}

func TestJitterStaysWithinItsBounds(t *testing.T) {
	d := 100 * time.Millisecond
	for range 1000 {
		if got := backoff.Apply(backoff.Full, d); got < 0 || got > d {
			t.Fatalf("full jitter %v outside [0, %v]", got, d)
		}
		if got := backoff.Apply(backoff.Equal, d); got < d/2 || got > d {
			t.Fatalf("equal jitter %v outside [%v, %v]", got, d/2, d)
		}
	}
	if got := backoff.Apply(backoff.None, d); got != d {
		t.Errorf("no jitter = %v", got)
	}
	if got := backoff.Apply(backoff.Full, math.MaxInt64); got < 0 {
		t.Errorf("full jitter of the longest duration = %v", got)
	}
	if got := backoff.Apply(backoff.Full, -1); got != 0 {
		t.Errorf("jitter of a negative wait = %v", got)
	}
}

func TestPolicyDoesNotAllocate(t *testing.T) {
	p := backoff.Policy{Initial: time.Millisecond, Max: time.Second, Multiplier: 2}
	if n := testing.AllocsPerRun(100, func() { _ = p.Delay(5) }); n != 0 {
		t.Errorf("Delay allocates %v", n)
	}
}
