package listener

import "time"

// The constructors below let code written for kolosys/nova's listener
// package build against Nova (see MIGRATING.md). They return Nova's
// policies with the same intent: every zero field of what they return would
// mean Nova's default anyway, so they cost nothing and hide nothing.

// New is NewManager, under the name kolosys/nova used.
func New(cfg ManagerConfig) *Manager { return NewManager(cfg) }

// DefaultRetryPolicy returns three attempts with exponential backoff from
// 100ms up to 30s, full jitter: Nova's defaults, spelled out.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:  DefaultMaxAttempts,
		InitialDelay: DefaultInitialDelay,
		MaxDelay:     DefaultMaxDelay,
		Multiplier:   DefaultMultiplier,
		Backoff:      BackoffExponential,
		Jitter:       JitterFull,
	}
}

// DefaultCircuitConfig returns an enabled breaker that opens after
// DefaultFailureThreshold consecutive failures and lets probes through
// after DefaultCoolDown.
func DefaultCircuitConfig() CircuitConfig {
	return CircuitConfig{
		Enabled:          true,
		FailureThreshold: DefaultFailureThreshold,
		CoolDown:         DefaultCoolDown,
		SuccessThreshold: DefaultSuccessThreshold,
		Window:           DefaultWindow,
		MinRequests:      DefaultMinRequests,
	}
}

// DefaultDeadLetterConfig returns dead-lettering enabled, into the
// manager's store, with no handler (Nova keeps every dead letter in the
// store, where Manager.DeadLetters finds it; a handler is optional).
func DefaultDeadLetterConfig() DeadLetterConfig {
	return DeadLetterConfig{Enabled: true, QueueSize: DefaultDeadLetterQueueSize}
}

// DefaultListenerConfig returns the configuration kolosys/nova's
// DefaultListenerConfig described: ten concurrent events, a 30s timeout per
// attempt, DefaultRetryPolicy, DefaultCircuitConfig and
// DefaultDeadLetterConfig.
func DefaultListenerConfig() ListenerConfig {
	return ListenerConfig{
		Concurrency: 10,
		Timeout:     30 * time.Second,
		RetryPolicy: DefaultRetryPolicy(),
		Circuit:     DefaultCircuitConfig(),
		DeadLetter:  DefaultDeadLetterConfig(),
	}
}
