package amqp

import (
	"math"
	"time"

	"github.com/novaevents/nova/internal/backoff"
)

// ReconnectPolicy describes the exponentially growing waits between
// attempts to reconnect: InitialDelay before the first retry, multiplied by
// Multiplier for each further one, capped at MaxDelay, with "full jitter"
// (the wait is drawn uniformly from [0, Ceiling(attempt)], which spreads
// clients that failed together). Its fields are named as the delay fields
// of listener.RetryPolicy (RetryPolicy here), which governs retries of
// publishes and deliveries; reconnection has no attempt limit.
type ReconnectPolicy struct {
	// InitialDelay is the ceiling for the first retry. Default 100ms.
	InitialDelay time.Duration
	// MaxDelay caps every ceiling. Default 10s.
	MaxDelay time.Duration
	// Multiplier multiplies the ceiling per retry. Default 2.
	Multiplier float64
}

// Backoff is ReconnectPolicy.
//
// Deprecated: use ReconnectPolicy.
type Backoff = ReconnectPolicy

// retryDefaults validates p (field names the config field it came from)
// and fills in the attempts and delays that are zero; the Publisher and the
// Consumer differ only in those defaults.
func retryDefaults(field string, p RetryPolicy, attempts int, initial, maxDelay time.Duration) (RetryPolicy, error) {
	if err := p.Validate(); err != nil {
		return p, configErrorf(field, "%v", err)
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = attempts
	}
	if p.InitialDelay == 0 {
		p.InitialDelay = initial
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = max(maxDelay, p.InitialDelay)
	}
	return p, nil
}

func (b ReconnectPolicy) withDefaults(initial, maxDelay time.Duration) Backoff {
	if b.InitialDelay == 0 {
		b.InitialDelay = initial
	}
	if b.MaxDelay == 0 {
		b.MaxDelay = max(maxDelay, b.InitialDelay)
	}
	if b.Multiplier == 0 {
		b.Multiplier = DefaultBackoffFactor
	}
	return b
}

func (b ReconnectPolicy) validate() error {
	if b.InitialDelay < 0 || b.MaxDelay < b.InitialDelay || b.Multiplier < 1 || math.IsNaN(b.Multiplier) {
		return configErrorf("ReconnectPolicy", "InitialDelay %v, MaxDelay %v, Multiplier %v", b.InitialDelay, b.MaxDelay, b.Multiplier)
	}
	return nil
}

// Ceiling is the longest wait before retry number attempt (1 for the first
// retry): InitialDelay × Multiplier^(attempt-1), capped at MaxDelay. It is Nova's one
// backoff formula (internal/backoff), which listener.RetryPolicy uses too.
func (b ReconnectPolicy) Ceiling(attempt int) time.Duration {
	return b.policy().Base(attempt)
}

// Jittered is a full-jitter wait for retry number attempt: uniform in
// [0, Ceiling(attempt)].
func (b ReconnectPolicy) Jittered(attempt int) time.Duration {
	return backoff.Apply(backoff.Full, b.Ceiling(attempt))
}

// halfJittered is a wait for retry number attempt drawn uniformly from
// [Ceiling/2, Ceiling]: it still spreads clients out, but never comes back
// at once, so a repeated failure always slows down.
func (b ReconnectPolicy) halfJittered(attempt int) time.Duration {
	c := b.Ceiling(attempt)
	if c <= 1 {
		return c
	}
	return backoff.Apply(backoff.Equal, c)
}

func (b ReconnectPolicy) policy() backoff.Policy {
	return backoff.Policy{Initial: b.InitialDelay, Max: b.MaxDelay, Multiplier: b.Multiplier}
}
