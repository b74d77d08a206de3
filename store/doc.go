// Package store defines Nova's event store: an append-only log of events kept
// in named streams, read back by position and followed live.
//
// Every event appended to a stream gets two numbers that never change, not
// even when retention removes older events:
//
//   - its Version, 1, 2, 3… within its stream, with no gaps;
//   - its Position, 1, 2, 3… across the whole store, in the order appends
//     were committed.
//
// A [Record] carries the event with these numbers and the time the store
// accepted it (StoredAt). Reads take the first version or position wanted
// (inclusive) and a limit. [FromStart] means "the oldest event still kept";
// naming an event that retention has already removed returns a
// [*TrimmedError] (errors.Is(err, ErrTrimmed)) that says where the kept events
// begin, so a reader always knows it missed something. Retention trims each
// stream from its oldest event, so trimming one stream can leave holes in the
// global positions while older events of other streams stay: a reader of all
// streams (ReadAll, a subscription to AllStreams) gets a *TrimmedError at
// the hole too, never a silent jump over it.
//
// [EventStore.AppendExpected] gives optimistic concurrency: the append
// succeeds only if the stream is at the expected version, otherwise it writes
// nothing and returns a [*ConcurrencyError].
//
// [EventStore.Subscribe] returns a [Subscription] that first reads the history
// from a given point and then follows new appends, with no gap, no duplicate
// and no reordering. A subscription is pulled with Next: it reads from the log
// itself, so a slow reader simply lags behind; it never holds back appends or
// other subscribers, and no event is dropped on its behalf.
//
// The implementations are store/memory (embedded, the default) and
// store/postgres (durable). store/storetest is the conformance suite every
// implementation runs. This package only declares types and starts no
// goroutines.
//
//	st := memory.New(memory.Config{})
//	defer st.Close()
//	err := st.Append(ctx, "order-1", shared.NewBaseEvent("e1", "order.created", order))
//	recs, err := st.Read(ctx, "order-1", store.FromStart, 100)
//	sub, err := st.Subscribe(ctx, store.AllStreams, store.FromStart)
//	defer sub.Close()
//	for {
//		rec, err := sub.Next(ctx)
//		if err != nil { break }
//		fmt.Println(rec.Position, rec.StreamID, rec.Version, rec.Type())
//	}
package store
