// Package callback runs user callbacks (dead-letter handlers, state-change
// hooks) so that they never block the library: a [Runner] calls its
// function with the values sent to it, one at a time, on ONE goroutine it
// owns, behind a bounded queue whose overflow is counted.
//
// The goroutine starts with a Send and ends as soon as the queue is empty,
// so that an idle Runner (a dead-letter handler of a subscription that has
// gone, say) holds no goroutine; the next Send starts another. Stop refuses
// further sends and lets a running goroutine drain the queue (or, after
// Run.GiveUp, skip and count what is left). Restart accepts sends again.
// A panic in the callback is recovered, counted and reported.
//
//	r := callback.New(256, func(d DeadLetter) { handler(d) }, logPanic)
//	r.Send(d) // never blocks: Full when the queue is full
//	run, ok := r.Stop()
//	if ok { <-run.Done() }
package callback
