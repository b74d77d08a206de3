// Package logging writes Nova's events to a log/slog Logger: a listener
// middleware that logs every attempt (event_id, event_type, listener,
// attempt, duration, error), a dead-letter handler and a worker-pool panic
// handler. It uses only the standard library.
//
// The attribute keys are the ones Nova's components use in the records
// they write to their own Config.Logger (emitter, bus, listener manager,
// RabbitMQ client, publisher and consumer), so one query finds an event in
// both.
//
// Attempt numbers: the middleware remembers, per listener and event ID,
// how many attempts failed, up to 10,000 pairs (a success forgets its
// pair; past the bound the oldest are forgotten), so the number is exact
// unless that many events are failing at once. On the success path with
// nothing failing it costs one atomic load. It starts no goroutine.
//
// # Example
//
//	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
//	logged := logging.Listener(logger, logging.Options{SuccessLevel: slog.LevelDebug})
//	em.Subscribe("order.created", logged(handler))
//	// or, with a listener manager: lm.Register(logged(handler), cfg)
//	pool := workerpool.New(8, 1024, workerpool.WithPanicHandler(logging.PanicHandler(logger)))
//	cfg.DeadLetter = listener.DeadLetterConfig{Enabled: true, Handler: logging.DeadLetter(logger)}
package logging
