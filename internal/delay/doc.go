// Package delay runs functions after a delay on one goroutine.
//
// A [Queue] keeps the scheduled functions in a min-heap ordered by due time
// and sleeps on a single timer until the earliest is due, so scheduling a
// retry costs a heap push, never a goroutine or a timer per event. Functions
// run one after another on the queue's goroutine and must be quick: the
// usual one hands an event back to the queue of whoever owns it.
//
// New starts the goroutine; Close stops it and hands back, in due order, the
// functions that had not run yet, so that the owner can run them at once or
// count them as lost. Nothing is forgotten silently.
//
//	q := delay.New()
//	q.Schedule(200*time.Millisecond, func() { partition.requeue(ev) })
//	...
//	for _, fn := range q.Close() { fn() } // run what was still waiting
package delay
