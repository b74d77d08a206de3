package backoff

import (
	"math"
	"math/rand/v2"
	"time"
)

// Growth is how the wait grows with the retry number.
type Growth int

const (
	// Exponential waits Initial × Multiplier^(n-1) before retry n.
	Exponential Growth = iota
	// Fixed waits Initial every time.
	Fixed
	// Linear waits Initial × n.
	Linear
)

// Jitter is how a computed wait d is randomised.
type Jitter int

const (
	// Full draws the wait uniformly from [0, d].
	Full Jitter = iota
	// Equal draws it from [d/2, d]: it still spreads clients out, but a
	// repeated failure always slows down.
	Equal
	// None waits exactly d.
	None
)

// Policy is a backoff formula. Its fields must hold their final values:
// Policy applies no defaults (its users do). A Multiplier below 1 (or NaN)
// counts as 1; an Initial at or past Max gives Max.
type Policy struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Growth     Growth
	Jitter     Jitter
}

// Base is the wait before retry n (n >= 1; a smaller n counts as 1) without
// jitter, capped by Max. It never overflows.
func (p Policy) Base(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	initial, maxDelay := p.Initial, p.Max
	if initial <= 0 {
		return 0
	}
	if initial >= maxDelay {
		return maxDelay
	}
	switch p.Growth {
	case Fixed:
		return initial
	case Linear:
		if int64(n) > int64(maxDelay/initial) {
			return maxDelay
		}
		return min(initial*time.Duration(n), maxDelay)
	default: // Exponential and unknown values
		mult := p.Multiplier
		if mult < 1 || math.IsNaN(mult) {
			mult = 1
		}
		d := float64(initial) * math.Pow(mult, float64(n-1))
		if d >= float64(maxDelay) || math.IsInf(d, 0) || math.IsNaN(d) {
			return maxDelay
		}
		return time.Duration(d)
	}
}

// Delay is Base(n) with the policy's jitter applied.
func (p Policy) Delay(n int) time.Duration {
	return Apply(p.Jitter, p.Base(n))
}

// Apply randomises d as j says.
func Apply(j Jitter, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	switch j {
	case None:
		return d
	case Equal:
		half := d / 2
		return half + time.Duration(rand.Uint64N(uint64(d-half)+1))
	default: // Full and unknown values
		// In uint64, d+1 cannot overflow even for the longest Duration, and
		// the draw, at most d, fits back.
		return time.Duration(rand.Uint64N(uint64(d) + 1))
	}
}
