// Package drain holds the pieces of a "drainer on a pool", the way the
// emitter and the bus run their work: a producer that finds work waiting
// takes one of a bounded number of [Slots] and submits a drainer task to a
// workerpool.Pool; the drainer handles work until none is left (or a batch
// is done, then it submits itself again), and gives its slot back.
//
// Submitting must never block the producer and never lose a wake-up, so
// the drainer goes to the pool with TrySubmitKeep (never evicted) and, when
// the pool's queue is full, to a [Rescuer]: ONE goroutine that waits for
// room with SubmitKeep, or, once the pool is closed or the owner is
// shutting down, runs the drainer itself, so that accepted work is still
// done. Its queue is bounded by the owners' slots.
//
//	r := drain.NewRescuer(pool)
//	if slots.TryAcquire() && !r.Submit(workerpool.PriorityNormal, drainFn) {
//		slots.Release() // the rescuer is shut down: nothing is left to run
//	}
//	...
//	r.Hurry()             // shutting down: stop waiting for pool room
//	err := r.Shutdown(ctx) // run what is queued, stop the goroutine
package drain
