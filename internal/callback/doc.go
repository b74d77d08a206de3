// Package callback runs user callbacks (dead-letter handlers, state-change
// hooks) so that they never block the library: a [Runner] calls its
// function with the values sent to it, one at a time, on ONE goroutine it
// owns, behind a bounded queue whose overflow is counted.
//
// The goroutine starts on the first Send and ends after Stop, once it has
// drained the queue (or, after Run.GiveUp, skipping and counting what is
// left). Restart accepts sends again; the next Send starts a new goroutine.
// A panic in the callback is recovered, counted and reported.
//
//	r := callback.New(256, func(d DeadLetter) { handler(d) }, logPanic)
//	r.Send(d) // never blocks: Full when the queue is full
//	run, ok := r.Stop()
//	if ok { <-run.Done() }
package callback
