package workerpool

import "errors"

// Sentinel errors returned by the pool. Check them with errors.Is.
var (
	// ErrPoolClosed is returned by every submit call once Close has begun.
	ErrPoolClosed = errors.New("workerpool: closed")
	// ErrQueueFull is returned when the queue has no room and the overflow
	// policy does not wait for it (RejectNew, TrySubmit, an expired
	// BlockTimeout, EvictLowerPriority with nothing lower to evict).
	ErrQueueFull = errors.New("workerpool: queue full")
	// ErrNilTask is returned when the task is nil.
	ErrNilTask = errors.New("workerpool: nil task")
	// ErrInvalidPriority is returned for a Priority outside
	// PriorityLow..PriorityCritical.
	ErrInvalidPriority = errors.New("workerpool: invalid priority")
	// ErrInvalidSize is returned by Resize for a size below one.
	ErrInvalidSize = errors.New("workerpool: invalid size")
)
