package listener

import (
	"errors"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/novaevents/nova/internal/backoff"
	"github.com/novaevents/nova/shared"
)

// BackoffStrategy is how the wait between attempts grows.
type BackoffStrategy int

const (
	// BackoffExponential waits InitialDelay * Multiplier^(n-1) after the
	// n-th failed attempt, capped by MaxDelay. It is the default.
	BackoffExponential BackoffStrategy = iota
	// BackoffFixed waits InitialDelay every time.
	BackoffFixed
	// BackoffLinear waits InitialDelay * n after the n-th failed attempt,
	// capped by MaxDelay.
	BackoffLinear
)

// String returns "exponential", "fixed" or "linear".
func (s BackoffStrategy) String() string {
	switch s {
	case BackoffExponential:
		return "exponential"
	case BackoffFixed:
		return "fixed"
	case BackoffLinear:
		return "linear"
	}
	return "BackoffStrategy(" + strconv.Itoa(int(s)) + ")"
}

// JitterMode is how a computed delay d is randomised, so that many events
// failing together do not all come back at the same instant.
type JitterMode int

const (
	// JitterFull waits a uniform random time in [0, d]. It is the default.
	JitterFull JitterMode = iota
	// JitterEqual waits d/2 plus a uniform random time in [0, d/2].
	JitterEqual
	// JitterNone waits exactly d.
	JitterNone
)

// String returns "full", "equal" or "none".
func (j JitterMode) String() string {
	switch j {
	case JitterFull:
		return "full"
	case JitterEqual:
		return "equal"
	case JitterNone:
		return "none"
	}
	return "JitterMode(" + strconv.Itoa(int(j)) + ")"
}

// RetryPolicy decides whether a failed attempt is tried again and after how
// long. Its zero value retries every non-permanent error up to 3 attempts in
// all, with full-jitter exponential backoff from 100ms doubling up to 30s.
//
// A RetryPolicy is a value: copying it is cheap and its methods are safe for
// concurrent use (as long as RetryCondition is). Delay and Next do not
// allocate.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first one included:
	// 1 means never retried. 0 means DefaultMaxAttempts (3).
	MaxAttempts int
	// InitialDelay is the wait after the first failure, before jitter.
	// 0 means DefaultInitialDelay (100ms).
	InitialDelay time.Duration
	// MaxDelay caps every computed wait, before jitter. 0 means
	// DefaultMaxDelay (30s).
	MaxDelay time.Duration
	// Multiplier is the growth factor of BackoffExponential. 0 means
	// DefaultMultiplier (2); values below 1 are refused by Register.
	Multiplier float64
	// Backoff is how the wait grows; the default is BackoffExponential.
	Backoff BackoffStrategy
	// Jitter randomises each wait; the default is JitterFull.
	Jitter JitterMode
	// RetryCondition, if set, must return true for an error to be retried.
	// nil retries every error. Either way errors marked with
	// shared.Permanent are never retried.
	RetryCondition func(error) bool
	// RetryableErrors, if not empty, limits retries to errors that match
	// one of them with errors.Is. It combines with RetryCondition: both
	// must agree.
	RetryableErrors []error
}

// Attempts returns the total number of attempts the policy allows, with the
// default applied.
func (p RetryPolicy) Attempts() int {
	if p.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return p.MaxAttempts
}

// Delay is the wait before attempt n+1 after n failed attempts (n >= 1; a
// smaller n counts as 1), with jitter applied.
func (p RetryPolicy) Delay(n int) time.Duration {
	return p.jitter(p.BaseDelay(n))
}

// BaseDelay is Delay without jitter: the wait the strategy computes after n
// failed attempts, capped by MaxDelay.
func (p RetryPolicy) BaseDelay(n int) time.Duration {
	return p.backoff().Base(n)
}

func (p RetryPolicy) jitter(d time.Duration) time.Duration {
	return backoff.Apply(backoff.Jitter(p.Jitter), d)
}

// backoff is the policy's formula, defaults filled in: Nova's one backoff
// (internal/backoff), which the RabbitMQ transport uses too.
func (p RetryPolicy) backoff() backoff.Policy {
	b := backoff.Policy{Initial: p.InitialDelay, Max: p.MaxDelay, Multiplier: p.Multiplier, Growth: backoff.Growth(p.Backoff)}
	if b.Initial <= 0 {
		b.Initial = DefaultInitialDelay
	}
	if b.Max <= 0 {
		b.Max = DefaultMaxDelay
	}
	if b.Multiplier == 0 {
		b.Multiplier = DefaultMultiplier
	}
	return b
}

// Retryable reports whether err is worth another attempt under this policy,
// ignoring how many attempts were made. nil and permanent errors are not.
// ErrCircuitOpen always is, whatever RetryCondition and RetryableErrors say:
// the handler never saw the event, so the error says nothing about it.
// A RetryCondition that panics is recovered and means "not retryable"; the
// Manager then dead-letters the event with a *CallbackPanicError carrying
// the panic and its stack.
func (p RetryPolicy) Retryable(err error) bool {
	ok, _ := p.retryable(err)
	return ok
}

// retryable is Retryable, also returning the *CallbackPanicError of a
// RetryCondition that panicked.
func (p RetryPolicy) retryable(err error) (bool, *CallbackPanicError) {
	switch {
	case err == nil, shared.IsPermanent(err):
		return false, nil
	case errors.Is(err, ErrCircuitOpen):
		return true, nil
	}
	if len(p.RetryableErrors) > 0 {
		matched := false
		for _, target := range p.RetryableErrors {
			if errors.Is(err, target) {
				matched = true
				break
			}
		}
		if !matched {
			return false, nil
		}
	}
	if p.RetryCondition == nil {
		return true, nil
	}
	return p.checkCondition(err)
}

func (p RetryPolicy) checkCondition(err error) (ok bool, perr *CallbackPanicError) {
	defer func() {
		if v := recover(); v != nil {
			ok, perr = false, &CallbackPanicError{
				Callback: "RetryPolicy.RetryCondition",
				Value:    v,
				Stack:    debug.Stack(),
				Err:      err,
			}
		}
	}()
	return p.RetryCondition(err), nil
}

// Next reports whether an event whose n-th attempt (1-based) failed with err
// gets another attempt, and after what delay. Permanent errors
// (shared.IsPermanent) never retry, and neither does any error once n reaches
// the policy's attempts.
func (p RetryPolicy) Next(n int, err error) (delay time.Duration, retry bool) {
	if n >= p.Attempts() || !p.Retryable(err) {
		return 0, false
	}
	return p.Delay(n), true
}

// decide is Next for the Manager. When there is no retry it also says
// whether the attempts ran out (rather than err not being retryable) and
// which error to give up with: err, or the *CallbackPanicError of a
// RetryCondition that panicked.
func (p RetryPolicy) decide(n int, err error) (d time.Duration, retry, exhausted bool, cause error) {
	ok, perr := p.retryable(err)
	switch {
	case perr != nil:
		return 0, false, false, perr
	case !ok:
		return 0, false, false, err
	case n >= p.Attempts():
		return 0, false, true, err
	}
	return p.Delay(n), true, false, err
}
