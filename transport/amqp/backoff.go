package amqp

import (
	"math"
	"time"

	"github.com/novaevents/nova/internal/backoff"
)

// Backoff describes exponentially growing waits: Initial before the first
// retry, multiplied by Factor for each further one, capped at Max. Where the
// package applies jitter it is "full jitter": the wait is drawn uniformly
// from [0, Ceiling(attempt)], which spreads clients that failed together.
type Backoff struct {
	// Initial is the ceiling for the first retry. The default depends on use.
	Initial time.Duration
	// Max caps every ceiling. The default depends on use.
	Max time.Duration
	// Factor multiplies the ceiling per retry. Default 2.
	Factor float64
}

func (b Backoff) withDefaults(initial, maxDelay time.Duration) Backoff {
	if b.Initial == 0 {
		b.Initial = initial
	}
	if b.Max == 0 {
		b.Max = max(maxDelay, b.Initial)
	}
	if b.Factor == 0 {
		b.Factor = DefaultBackoffFactor
	}
	return b
}

func (b Backoff) validate() error {
	if b.Initial < 0 || b.Max < b.Initial || b.Factor < 1 || math.IsNaN(b.Factor) {
		return configErrorf("Backoff", "backoff initial %v, max %v, factor %v", b.Initial, b.Max, b.Factor)
	}
	return nil
}

// Ceiling is the longest wait before retry number attempt (1 for the first
// retry): Initial × Factor^(attempt-1), capped at Max. It is Nova's one
// backoff formula (internal/backoff), which listener.RetryPolicy uses too.
func (b Backoff) Ceiling(attempt int) time.Duration {
	return b.policy().Base(attempt)
}

// Jittered is a full-jitter wait for retry number attempt: uniform in
// [0, Ceiling(attempt)].
func (b Backoff) Jittered(attempt int) time.Duration {
	return backoff.Apply(backoff.Full, b.Ceiling(attempt))
}

// halfJittered is a wait for retry number attempt drawn uniformly from
// [Ceiling/2, Ceiling]: it still spreads clients out, but never comes back
// at once, so a repeated failure always slows down.
func (b Backoff) halfJittered(attempt int) time.Duration {
	c := b.Ceiling(attempt)
	if c <= 1 {
		return c
	}
	return backoff.Apply(backoff.Equal, c)
}

func (b Backoff) policy() backoff.Policy {
	return backoff.Policy{Initial: b.Initial, Max: b.Max, Multiplier: b.Factor}
}
