// Package backoff is Nova's one backoff formula: how long to wait before
// retry n, growing exponentially, linearly or not at all, capped, and
// randomised ("jitter") so that many clients failing together do not all
// come back at the same instant.
//
// The listener package's RetryPolicy and the RabbitMQ transport's Backoff
// are both views of a [Policy]. It starts no goroutine and keeps no state:
// every function is safe for concurrent use and does not allocate.
//
//	p := backoff.Policy{Initial: 100 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2}
//	wait := p.Delay(n) // full jitter: uniform in [0, p.Base(n)]
package backoff
