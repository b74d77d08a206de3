package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
)

// Count retention trims one stream while an older event of another stays:
// the positions it removes are holes above the oldest kept event. A lagging
// all-streams subscriber and ReadAll must report the hole, not jump over it.
func TestCountRetentionOfOneStreamIsReportedToAllStreamsReaders(t *testing.T) {
	for _, cfg := range []memory.Config{
		{RetentionCount: 2},
		{RetentionCount: 2, MaxEventsPerStream: 2}, // full streams keep taking events, trimming their oldest
	} {
		ctx := context.Background()
		st := memory.New(cfg)
		defer st.Close()
		appendTo := func(stream, id string) {
			t.Helper()
			if err := st.Append(ctx, stream, event(id)); err != nil {
				t.Fatalf("%+v: Append(%s): %v", cfg, id, err)
			}
		}
		appendTo("keep", "k-1") // position 1: kept, the oldest event
		appendTo("a", "a-1")    // position 2
		sub, err := st.Subscribe(ctx, store.AllStreams, store.FromStart)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		for want := int64(1); want <= 2; want++ {
			if r, err := sub.Next(ctx); err != nil || r.Position != want {
				t.Fatalf("%+v: Next = position %d, %v; want %d", cfg, r.Position, err, want)
			}
		}
		appendTo("a", "a-2") // position 3
		appendTo("a", "a-3") // position 4; a keeps 3 and 4, trims 2
		appendTo("a", "a-4") // position 5; a keeps 4 and 5, trims 3

		// The subscriber is at position 3, removed while k-1 at position 1
		// stays.
		r, err := sub.Next(ctx)
		var te *store.TrimmedError
		if !errors.As(err, &te) || te.StreamID != store.AllStreams || te.Requested != 3 || te.FirstAvailable != 4 {
			t.Errorf("%+v: Next = position %d, %v; want a TrimmedError at 3, first available 4", cfg, r.Position, err)
		}
		recs, err := st.ReadAll(ctx, store.FromStart, 0)
		if len(recs) != 1 || recs[0].ID() != "k-1" || !errors.As(err, &te) || te.Requested != 2 || te.FirstAvailable != 4 {
			t.Errorf("%+v: ReadAll(FromStart) = %d records, %v; want k-1 and a TrimmedError at 2, first available 4", cfg, len(recs), err)
		}
	}
}
