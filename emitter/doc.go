// Package emitter delivers events to the listeners subscribed to their type,
// in process.
//
// Subscribe takes an exact event type ("order.created") or a pattern in the
// NATS convention: "order.*" matches one token, "order.>" one or more.
//
// Emit runs every matching listener in the calling goroutine, one after
// another, and returns their errors joined; a failing or panicking listener
// does not stop the others. Listeners with retry policies (Config.Listeners)
// are retried once every listener has had its first attempt, side by side. EmitAsync puts the event in a bounded buffer and
// returns; drainer tasks on a workerpool.Pool deliver buffered events, up to
// Config.MaxConcurrency at once. A full buffer blocks the caller until its
// context ends, or rejects with ErrBufferFull under workerpool.RejectNew. No
// goroutine is started per event.
//
// Middleware (Before/After hooks, such as shared.MiddlewareFunc) runs around
// every dispatch; WrapListeners adds handler-wrapping middleware.
//
// Panics in listeners, middleware hooks, Config.Priority and OnAsyncError
// are recovered and become errors (*shared.PanicError) or counts in Stats;
// none of them can take a drainer down or hold Shutdown.
//
// Goroutines: New starts one, which moves drain work onto the pool when the
// pool's queue is full. Shutdown stops accepting events, delivers everything
// already accepted, stops that goroutine and closes the pool if the emitter
// created it.
//
//	pool := workerpool.New(4, 1000)
//	em := emitter.New(emitter.Config{WorkerPool: pool})
//	em.Subscribe("order.*", shared.NewBaseListener("audit", func(e shared.Event) error {
//		log.Println("order event", e.ID())
//		return nil
//	}))
//	err := em.Emit(ctx, shared.NewBaseEvent("o-1", "order.created", order))
//	_ = em.EmitAsync(ctx, shared.NewBaseEvent("o-2", "order.created", order))
//	_ = em.Shutdown(ctx) // delivers o-2 first
//	_ = pool.Close(ctx)
package emitter
