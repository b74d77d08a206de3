// Package listener is Nova's listener manager: the one place where the
// policies of a listener live (how many of its attempts may run at once,
// how long one may take, which failures are retried and when, when its
// circuit breaker opens, and what happens to the events it gives up on).
//
// # One delivery model
//
// The emitter and the bus (sync Emit, async EmitAsync, every delivery
// mode) decide nothing by themselves: each takes a [Route] per subscriber
// ([Manager.Route]) and uses it the same way. [Route.Attempt] makes one
// attempt and returns a complete [Verdict]: succeeded; retry after Delay as
// attempt Next; or give up, with the cause, the attempts made and whether
// they ran out (a *RetryError). [Route.DeadLetter] gives an event up. The
// dispatcher only keeps the event and waits the delay (its caller's
// goroutine, its delay queue); registered listeners follow their
// ListenerConfig, unregistered ones the dispatcher's [Policy] (a bus
// topic's), through the same code, so one failure gives the same
// attempts, Stats and dead letter whichever way the event came. Direct
// callers use [Manager.Handle], which runs the whole policy inline.
//
// # One timeout rule
//
// ListenerConfig.Timeout, a bus topic's HandlerTimeout, shared.Timeout and
// the RabbitMQ consumer's HandlerTimeout all follow shared.HandleWithin: a
// handler that returns nil has succeeded, even after its deadline (so an
// ExactlyOnce topic never repeats completed work); one that returns an
// error after it failed with a *shared.TimeoutError.
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
// the cool-down; a dispatcher gets a Verdict to retry after the cool-down
// (Held), under the same attempt number. With DeadLetterWhileOpen it goes
// to the dead letter at once, recorded with the attempts that reached the
// handler and not as exhausted.
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
// [DeadLetterStore] (a [MemoryDeadLetterStore] by default) where it can be listed,
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
// A Manager starts goroutines only when needed: one per listener (or
// route policy) with a dead-letter Handler and one for circuit
// state-change callbacks, each an internal/callback runner behind a
// bounded queue. It times no retries: the dispatchers wait the verdicts'
// delays. Stop(ctx) drains the attempts of registered listeners and
// Handle calls, lets the handlers finish their queues, and ends those
// goroutines; a Stop that ran out of time is waited for again by a later
// Stop. Start makes a stopped manager work again.
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
