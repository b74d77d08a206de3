// Package listener is Nova's listener manager: the one place where the
// policies of a listener live (how many of its attempts may run at once,
// how long one may take, which failures are retried and when, when its
// circuit breaker opens, and what happens to the events it gives up on).
//
// The emitter and the bus do not retry by themselves: they ask the Manager.
// Synchronous callers use [Manager.Handle], which runs the whole policy
// inline. Callers with their own queues (the bus, an asynchronous emitter)
// make one [Manager.Attempt] at a time, ask [Manager.Next] (or
// [Manager.Retry]) what follows a failure, and call [Manager.DeadLetter]
// when it says to give up. [RetryPolicy] is the policy type both use.
//
// # Retries
//
// RetryPolicy.MaxAttempts counts every attempt, the first included.
// Backoff is exponential (InitialDelay * Multiplier^(n-1), capped by
// MaxDelay), fixed or linear, with full jitter by default. A handler marks
// an error as not worth retrying with shared.Permanent.
//
// # Circuit breaker
//
// Per listener, off unless CircuitConfig.Enabled. It opens after
// FailureThreshold failures in a row, or a FailureRate over a sliding
// Window; after CoolDown it lets HalfOpenProbes attempts through, and
// SuccessThreshold successes close it. While it is open, Attempt returns
// ErrCircuitOpen without calling the handler, and the event is not lost.
// With HoldWhileOpen (the default) whoever has the event keeps it, without
// using up its attempts: Handle, whose synchronous caller still has it,
// returns an error matching ErrCircuitOpen at once instead of blocking for
// the cool-down; Next tells the bus to retry after the cool-down (it holds
// the event, and the later events of its ordering key, in its partition);
// Retry keeps it scheduled. With DeadLetterWhileOpen it goes to the dead
// letter at once.
//
// # Callbacks
//
// A RetryCondition or an IsFailure that panics is recovered: the first
// then means "not retryable" (the event is dead-lettered with a
// *CallbackPanicError carrying the stack), the second "a failure".
//
// # Dead letters
//
// With DeadLetterConfig.Enabled, a given-up event is kept in a bounded
// [DeadLetterStore] (a [MemoryStore] by default) where it can be listed,
// inspected and redriven through any publish function, and is passed to
// DeadLetterConfig.Handler on a goroutine the manager owns. A slow Handler
// never blocks processing: its queue is bounded, and a dead letter that
// finds it full stays in the store and is counted. A Handler without
// Enabled is refused by Register. The attempts a dead letter records come
// from its error's [AttemptCounter] (a *RetryError, or a dispatcher's own
// error type implementing AttemptCount).
//
// # Goroutines and Stop
//
// A Manager starts goroutines only when needed: one per listener with a
// dead-letter Handler, one for circuit state-change callbacks, one timing
// the retries scheduled with Retry (at most ManagerConfig.MaxPendingRetries
// of them wait at once). Stop(ctx) drains attempts, Handle calls
// and scheduled retries, lets the handlers finish their queues, and ends
// those goroutines; Start makes a stopped manager work again.
//
// # Example
//
//	lm := listener.NewManager(listener.ManagerConfig{})
//	defer lm.Stop(ctx)
//	err := lm.Register(handler, listener.ListenerConfig{
//		Concurrency: 10,
//		Timeout:     5 * time.Second,
//		RetryPolicy: listener.RetryPolicy{
//			MaxAttempts:    3,
//			RetryCondition: func(err error) bool { return errors.Is(err, ErrTemporary) },
//		},
//		Circuit: listener.CircuitConfig{Enabled: true, FailureThreshold: 5, CoolDown: 30 * time.Second},
//		DeadLetter: listener.DeadLetterConfig{
//			Enabled: true,
//			Handler: func(e shared.Event, err error) { log.Printf("dead letter %s: %v", e.ID(), err) },
//		},
//	})
//	err = lm.Handle(ctx, handler, event) // attempts, backoff, dead letter
//	http.Handle("/health/listeners", lm.HealthHandler())
package listener
