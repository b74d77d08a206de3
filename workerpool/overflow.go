package workerpool

import (
	"strconv"
	"time"
)

// Overflow is what a blocking submit does when the queue (one capacity
// budget shared by all lanes) is full. Use the package values Block,
// RejectNew, EvictOldest, EvictLowerPriority, or BlockTimeout(d). The zero
// Overflow is Block.
type Overflow struct {
	kind    overflowKind
	timeout time.Duration
}

type overflowKind uint8

const (
	overflowBlock overflowKind = iota
	overflowBlockTimeout
	overflowRejectNew
	overflowEvictOldest
	overflowEvictLowerPriority
)

var (
	// Block waits for room until the ctx given to Submit is done (then
	// ctx.Err()) or the pool closes (ErrClosed). The default.
	Block = Overflow{kind: overflowBlock}
	// RejectNew refuses the new task with ErrQueueFull; queued tasks stay.
	RejectNew = Overflow{kind: overflowRejectNew}
	// EvictOldest removes the task that has been queued longest, in any
	// lane, to make room; the evicted task goes to the OnEvict callback.
	EvictOldest = Overflow{kind: overflowEvictOldest}
	// EvictLowerPriority removes the oldest task of the lowest non-empty lane
	// below the new task's priority. When no such task exists the new task
	// is refused with ErrQueueFull.
	EvictLowerPriority = Overflow{kind: overflowEvictLowerPriority}
)

// BlockTimeout waits for room like Block, but at most d; then the task is
// refused with ErrQueueFull. When there is room no timer is created.
// d ≤ 0 behaves as RejectNew.
func BlockTimeout(d time.Duration) Overflow {
	if d <= 0 {
		return RejectNew
	}
	return Overflow{kind: overflowBlockTimeout, timeout: d}
}

// Timeout returns the wait of a BlockTimeout policy, zero for the others.
func (o Overflow) Timeout() time.Duration { return o.timeout }

// String returns the policy's name, e.g. "BlockTimeout(50ms)".
func (o Overflow) String() string {
	switch o.kind {
	case overflowBlock:
		return "Block"
	case overflowBlockTimeout:
		return "BlockTimeout(" + o.timeout.String() + ")"
	case overflowRejectNew:
		return "RejectNew"
	case overflowEvictOldest:
		return "EvictOldest"
	case overflowEvictLowerPriority:
		return "EvictLowerPriority"
	}
	return "Overflow(" + strconv.Itoa(int(o.kind)) + ")"
}
