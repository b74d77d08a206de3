// Package memory is Nova's embedded event store: every event kept in the
// process's memory, in the order it was appended, readable by stream version
// or global position and followed live by subscriptions. It implements
// store.EventStore and store.Trimmer and passes store/storetest.
//
// Events are kept as values (they are not encoded), so Data comes back as
// the very value that was appended; events must therefore not be modified
// after Append, as everywhere in Nova.
//
// Storage is a global log in fixed-size chunks plus, per stream, a chunked
// index from version to position. An append writes into the current chunk
// (no copy of earlier events, well under one allocation per event); a read at
// a version or position is index arithmetic, so reading the last ten events
// of a stream of a million costs what it costs in a stream of a thousand.
//
// Limits (Config.MaxStreams, Config.MaxEventsPerStream) refuse the append
// with a *store.LimitError and write nothing. Retention (by age,
// Config.RetentionDuration, or by count per stream, Config.RetentionCount)
// removes the oldest events and never renumbers the others; a reader that
// asks for a removed event gets a *store.TrimmedError.
//
// Goroutines: with RetentionDuration set, New starts one retention sweeper;
// otherwise none. Subscriptions have no goroutine: Next reads the log
// directly and waits on a channel that the next append closes, so a slow
// subscriber only lags. Close stops the sweeper, ends subscriptions with
// store.ErrClosed and refuses later calls.
//
//	st := memory.New(memory.Config{
//		MaxEventsPerStream: 10000,
//		MaxStreams:         1000,
//		RetentionDuration:  time.Hour,
//	})
//	defer st.Close()
//	if err := st.Append(ctx, "order-1", shared.NewBaseEvent("e-1", "order.created", order)); err != nil {
//		return err // a *store.LimitError, an invalid event, store.ErrClosed…
//	}
//	recs, err := st.Read(ctx, "order-1", store.FromStart, 10)
package memory
