package listener

import "time"

// Defaults applied to zero fields of RetryPolicy, CircuitConfig,
// DeadLetterConfig, ListenerConfig and ManagerConfig.
const (
	// DefaultMaxAttempts is RetryPolicy.MaxAttempts when it is 0: the first
	// attempt and two retries.
	DefaultMaxAttempts = 3
	// DefaultInitialDelay is RetryPolicy.InitialDelay when it is 0.
	DefaultInitialDelay = 100 * time.Millisecond
	// DefaultMaxDelay is RetryPolicy.MaxDelay when it is 0.
	DefaultMaxDelay = 30 * time.Second
	// DefaultMultiplier is RetryPolicy.Multiplier when it is 0.
	DefaultMultiplier = 2.0

	// DefaultFailureThreshold is CircuitConfig.FailureThreshold when it is 0.
	DefaultFailureThreshold = 5
	// DefaultCoolDown is CircuitConfig.CoolDown when it is 0.
	DefaultCoolDown = 30 * time.Second
	// DefaultSuccessThreshold is CircuitConfig.SuccessThreshold when it is 0.
	DefaultSuccessThreshold = 1
	// DefaultWindow is CircuitConfig.Window when FailureRate is set and
	// Window is 0.
	DefaultWindow = 60 * time.Second
	// DefaultMinRequests is CircuitConfig.MinRequests when FailureRate is
	// set and MinRequests is 0.
	DefaultMinRequests = 20

	// DefaultDeadLetterQueueSize is DeadLetterConfig.QueueSize when it is 0.
	DefaultDeadLetterQueueSize = 256
	// DefaultDeadLetterCapacity is ManagerConfig.DeadLetterCapacity when it
	// is 0.
	DefaultDeadLetterCapacity = 10000
	// DefaultCallbackQueueSize is ManagerConfig.CallbackQueueSize when it
	// is 0.
	DefaultCallbackQueueSize = 256
	// DefaultComponentName is ManagerConfig.Name when it is empty.
	DefaultComponentName = "listener"
)
