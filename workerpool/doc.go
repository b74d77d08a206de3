// Package workerpool runs tasks (plain func()) on a bounded set of worker
// goroutines, with priority lanes, named overflow policies, optional dynamic
// sizing and metrics. Nova's emitter and bus run their handlers on it; it
// imports only the standard library and shared.
//
//	pool := workerpool.New(8, 1000) // 8 workers, 1000 queued tasks at most
//	defer pool.Close(ctx)
//	err := pool.Submit(ctx, func() { process(order) })
//	err = pool.SubmitPriority(ctx, workerpool.PriorityHigh, func() { alert(e) })
//	if err := pool.TrySubmit(task); errors.Is(err, workerpool.ErrQueueFull) { ... }
//
// # Goroutines
//
// A static pool (the default) starts all its workers in New; they stay until
// Close. With WithMinWorkers the pool keeps that many, starts more on demand
// up to its size when a task arrives and none is idle (the size check and the
// start happen under one lock), and a timer callback stops workers that have
// been idle for WithIdleTimeout. Resize changes the size at run time. No
// goroutine is ever started per task, whatever the overflow policy.
//
// # Lanes
//
// There are four lanes: PriorityCritical, PriorityHigh, PriorityNormal (the
// zero Priority, used by Submit and TrySubmit) and PriorityLow. The critical
// lane is strict: whenever it holds a task, that task is taken next. The
// other three are served by weighted round robin with credits, 8:4:1 by
// default (WithWeights): each dequeue spends a credit of its lane, lanes
// without tasks or without credits are skipped, and when no lane holding
// tasks has credits left every lane gets its weight back, as it does whenever
// the queue runs empty. So the scheduler never idles while any lane has work,
// and under saturation the lanes get 8/13, 4/13 and 1/13 of the dequeues.
//
// Bound on waiting: while the critical lane is empty, the first task of a
// lane with weight w is dequeued after at most 2 × (W − w) dequeues from the
// other lanes, where W is the sum of the three weights. With 8:4:1 a queued
// low-priority task at the head of its lane waits at most 24 dequeues, a
// normal one 18 and a high one 10. Critical tasks come on top of that.
//
// # A full queue
//
// All lanes share one capacity, queueSize. When it is full, Submit and
// SubmitPriority apply the pool's Overflow policy (WithOverflow):
//
//   - Block (default): wait until there is room or ctx is done.
//   - BlockTimeout(d): wait at most d, then ErrQueueFull. No timer is made
//     when there is room.
//   - RejectNew: ErrQueueFull at once; what is queued stays.
//   - EvictOldest: drop the task queued longest, in any lane.
//   - EvictLowerPriority: drop the oldest task of the lowest lane below the
//     new task's lane, or refuse the new task with ErrQueueFull.
//
// TrySubmit never waits: under Block and BlockTimeout it returns
// ErrQueueFull. Evicted tasks are counted (Stats.Evicted, per lane), reported
// to the metrics hook and handed to the WithOnEvict callback: never lost
// silently. Submits that wait are let in as room appears, chosen by the same
// weighted round robin as the lanes.
//
// # Tasks that submit
//
// A task may submit to its own pool; a handler that emits while the pool is
// full is the usual case. TrySubmit fails fast as usual. Submit, when the
// queue is full under Block or BlockTimeout, may wait inside a worker like
// anywhere else, but the workers never all wait, since none would be left to
// make room: a worker whose wait would bring the number of waiting submits up
// to the number of workers runs the task at once itself, counted in
// Stats.Inline, and Submit returns nil. The pool slows down instead of
// deadlocking. Recognising the caller (its goroutine ID, read from the
// header of its stack) costs a few microseconds and is paid only in that
// situation. Drain and Close called from a task do not wait for that task;
// the calling worker runs queued tasks itself meanwhile.
//
// # Panics
//
// A task's panic is recovered; the worker survives. It is counted
// (Stats.Panicked and Stats.Failed), reported to the metrics hook
// (TaskDone with panicked set) and given with its stack to the
// WithPanicHandler function. A task that calls runtime.Goexit ends its
// worker; it counts as failed and a replacement worker starts.
//
// # Tasks that must not be lost
//
// TrySubmitKeep and SubmitKeep are a public feature for whoever runs a
// "drainer on a pool" (a task that empties a buffer of its own, as the
// emitter and the bus do; internal/drain builds on them): a task queued
// with them is never evicted, whatever the overflow policy, and never
// evicts another one. TrySubmitKeep returns ErrQueueFull rather than wait;
// SubmitKeep waits for room until ctx ends or the pool closes (ignoring
// BlockTimeout). Use them for a task whose loss would strand work; use
// Submit for everything else.
//
// # Close
//
// Close stops accepting (ErrClosed, also for submits waiting for room),
// runs every task already queued, waits for the running ones and for the
// workers to exit, and returns ctx.Err() if ctx ends first. It is idempotent
// and safe to race with submits. Drain waits for an empty, idle pool while
// still accepting.
//
// # Metrics
//
// Stats returns a copy of the counters: queued and running tasks, submitted,
// completed, failed, panicked, rejected, evicted, utilization, and per-lane
// figures. WithMetrics reports to a shared.Metrics hook: TaskDone per task
// (lane, wait, run time, panicked), QueueDepth per lane, EventDropped per
// rejected or evicted task. Timing (two clock reads per task) is on only with
// WithMetrics or WithTiming; it fills per-lane wait-time histograms, updated
// with atomic adds and no lock. Without them the hook costs nothing.
//
// # Sizing
//
// DefaultWorkers is max(4, min(2.5 × GOMAXPROCS, 32)) and the default queue
// is workers × 10. WorkersFor gives 1×, 2× or 4× runtime.GOMAXPROCS(0) for
// CPU, mixed and I/O work, QueueSizeFor sizes a queue for a burst, and
// Recommend combines them with a processing time (nova size prints it).
// GOMAXPROCS, unlike runtime.NumCPU, follows CPU quotas.
package workerpool
