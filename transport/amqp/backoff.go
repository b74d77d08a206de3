package amqp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
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
		return fmt.Errorf("%w: backoff initial %v, max %v, factor %v", ErrInvalidConfig, b.Initial, b.Max, b.Factor)
	}
	return nil
}

// Ceiling is the longest wait before retry number attempt (1 for the first
// retry): Initial × Factor^(attempt-1), capped at Max.
func (b Backoff) Ceiling(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := float64(b.Initial) * math.Pow(b.Factor, float64(attempt-1))
	if d >= float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		return b.Max
	}
	return time.Duration(d)
}

// Jittered is a full-jitter wait for retry number attempt: uniform in
// [0, Ceiling(attempt)].
func (b Backoff) Jittered(attempt int) time.Duration {
	c := b.Ceiling(attempt)
	if c <= 0 {
		return 0
	}
	if c == math.MaxInt64 {
		return time.Duration(rand.Int64N(int64(c)))
	}
	return time.Duration(rand.Int64N(int64(c) + 1))
}

// halfJittered is a wait for retry number attempt drawn uniformly from
// [Ceiling/2, Ceiling]: it still spreads clients out, but never comes back
// at once, so a repeated failure always slows down.
func (b Backoff) halfJittered(attempt int) time.Duration {
	c := b.Ceiling(attempt)
	if c <= 1 {
		return c
	}
	half := c / 2
	return half + time.Duration(rand.Int64N(int64(c-half)))
}
