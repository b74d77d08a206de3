package listener

import (
	"log/slog"
	"math"
	"time"

	"github.com/novaevents/nova/shared"
)

// ListenerConfig is the policy a Manager applies to one listener. The zero
// value calls the listener with no limit and no timeout, retries failures
// with the default RetryPolicy (3 attempts in all, full-jitter exponential
// backoff), has no circuit breaker, and discards (but counts) events it
// gives up on.
type ListenerConfig struct {
	// Name is shown in health reports and stats. Default: the listener ID.
	Name string
	// Concurrency caps the attempts of this listener running at once;
	// further attempts wait, for as long as their context allows.
	// 0 (the default) means no limit.
	Concurrency int
	// Timeout bounds each attempt through the handler's context, under
	// the one timeout rule of shared.HandleWithin: an attempt whose handler
	// returns nil has succeeded, even after the deadline; one that returns
	// an error after it failed with a *shared.TimeoutError (which matches
	// shared.ErrTimeout). Go cannot stop a handler that ignores its
	// context: the attempt ends when the handler returns. 0 (the default)
	// means no timeout.
	Timeout time.Duration
	// RetryPolicy decides which failures are tried again and when.
	RetryPolicy RetryPolicy
	// Circuit configures the listener's circuit breaker; off by default.
	Circuit CircuitConfig
	// DeadLetter says what happens to events the listener gives up on.
	DeadLetter DeadLetterConfig
}

func (c ListenerConfig) withDefaults(id string) ListenerConfig {
	if c.Name == "" {
		c.Name = id
	}
	p := &c.RetryPolicy
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.InitialDelay == 0 {
		p.InitialDelay = DefaultInitialDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.Multiplier == 0 {
		p.Multiplier = DefaultMultiplier
	}
	c.Circuit = c.Circuit.withDefaults()
	if c.DeadLetter.QueueSize == 0 {
		c.DeadLetter.QueueSize = DefaultDeadLetterQueueSize
	}
	return c
}

func (c ListenerConfig) validate() error {
	switch {
	case c.Concurrency < 0:
		return newConfigError("Concurrency", "negative")
	case c.Timeout < 0:
		return newConfigError("Timeout", "negative")
	case c.DeadLetter.QueueSize < 0:
		return newConfigError("DeadLetter.QueueSize", "negative")
	case c.DeadLetter.Handler != nil && !c.DeadLetter.Enabled:
		return newConfigError("DeadLetter.Handler", "set while DeadLetter.Enabled is false: it would never be called (set Enabled, or drop the Handler)")
	}
	if err := c.RetryPolicy.Validate(); err != nil {
		return err
	}
	return c.Circuit.validate()
}

// Validate reports the first field of p that makes no sense (a negative
// count or delay, a Multiplier below 1, an unknown Backoff or Jitter) as a
// *ConfigError; zero fields mean their defaults.
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 0:
		return newConfigError("RetryPolicy.MaxAttempts", "negative")
	case p.InitialDelay < 0:
		return newConfigError("RetryPolicy.InitialDelay", "negative")
	case p.MaxDelay < 0:
		return newConfigError("RetryPolicy.MaxDelay", "negative")
	case p.Multiplier != 0 && (p.Multiplier < 1 || math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0)):
		return newConfigError("RetryPolicy.Multiplier", "below 1 or not a number: delays would shrink")
	case p.Backoff < BackoffExponential || p.Backoff > BackoffLinear:
		return newConfigError("RetryPolicy.Backoff", "unknown strategy "+p.Backoff.String())
	case p.Jitter < JitterFull || p.Jitter > JitterNone:
		return newConfigError("RetryPolicy.Jitter", "unknown mode "+p.Jitter.String())
	}
	return nil
}

// ManagerConfig configures a Manager. Its zero value works.
type ManagerConfig struct {
	// Name is the component name reported to Metrics. Default "listener".
	Name string
	// Metrics receives one EventHandled per attempt, EventRetried,
	// EventDeadLettered and EventDropped. Default: nothing is reported and
	// no clock is read on the success path.
	Metrics shared.Metrics
	// Logger, if set, logs dead letters that are discarded or whose
	// handler could not be called, and recovered callback panics.
	Logger *slog.Logger
	// DeadLetterStore keeps dead letters for listing and redrive. Default: a
	// MemoryDeadLetterStore holding DeadLetterCapacity entries.
	DeadLetterStore DeadLetterStore
	// DeadLetterCapacity bounds the default MemoryDeadLetterStore; the oldest entry
	// is evicted (and counted) to make room. 0 means
	// DefaultDeadLetterCapacity (10000). Ignored with DeadLetterStore set.
	DeadLetterCapacity int
	// CallbackQueueSize bounds the circuit state changes waiting for their
	// OnStateChange callback. 0 means DefaultCallbackQueueSize (256).
	CallbackQueueSize int
}

func (c ManagerConfig) withDefaults() ManagerConfig {
	if c.Name == "" {
		c.Name = DefaultComponentName
	}
	if c.DeadLetterCapacity <= 0 {
		c.DeadLetterCapacity = DefaultDeadLetterCapacity
	}
	if c.CallbackQueueSize <= 0 {
		c.CallbackQueueSize = DefaultCallbackQueueSize
	}
	if c.DeadLetterStore == nil {
		c.DeadLetterStore = NewMemoryDeadLetterStore(c.DeadLetterCapacity)
	}
	return c
}
