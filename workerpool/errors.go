package workerpool

import (
	"errors"

	"github.com/novaevents/nova/shared"
)

// Sentinel errors returned by the pool. Check them with errors.Is.
var (
	// ErrClosed is returned by every submit call once Close has begun.
	ErrClosed = errors.New("workerpool: closed")
	// ErrPoolClosed is ErrClosed.
	//
	// Deprecated: use ErrClosed, the name every Nova package gives its
	// closed error.
	ErrPoolClosed = ErrClosed
	// ErrQueueFull is returned when the queue has no room and the overflow
	// policy does not wait for it (RejectNew, TrySubmit, an expired
	// BlockTimeout, EvictLowerPriority with nothing lower to evict).
	ErrQueueFull = errors.New("workerpool: queue full")
	// ErrNilTask is returned when the task is nil.
	ErrNilTask = errors.New("workerpool: nil task")
	// ErrInvalidPriority is returned for a Priority outside
	// PriorityLow..PriorityCritical.
	ErrInvalidPriority = errors.New("workerpool: invalid priority")
	// ErrInvalidSize is returned by Resize for a size below one or above
	// MaxWorkers.
	ErrInvalidSize = errors.New("workerpool: invalid size")
	// ErrNotInitialized is returned by every method of a Pool that New did
	// not make (the zero Pool).
	ErrNotInitialized = errors.New("workerpool: zero Pool: create it with workerpool.New")
	// ErrInvalidConfig is matched by the *ConfigError that every method of
	// a Pool made with nonsensical arguments or options returns (see
	// Pool.Err). It is shared.ErrInvalidConfig.
	ErrInvalidConfig = shared.ErrInvalidConfig
)

// ConfigError says which argument or option New refused, and why: it is
// shared.ConfigError, the one shape every Nova package refuses a setting
// in. It matches ErrInvalidConfig.
type ConfigError = shared.ConfigError

func configError(field, reason string) *ConfigError {
	return shared.NewConfigError("workerpool", field, reason)
}
