package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/novaevents/nova/store"
)

func (s *suite) testLimits(t *testing.T) {
	open := func(t *testing.T, l Limits) store.EventStore {
		if s.newLimited == nil {
			t.Skip("the store has no limits (no storetest.WithLimits)")
		}
		st := s.newLimited(t, l)
		t.Cleanup(func() { _ = st.Close() })
		return st
	}

	t.Run("MaxStreams refuses a new stream and writes nothing anywhere", func(t *testing.T) {
		st := open(t, Limits{MaxStreams: 2})
		ctx := s.ctx(t)
		mustAppend(t, ctx, st, "a", events("a", 2)...)
		mustAppend(t, ctx, st, "b", events("b", 1)...)
		before := mustReadAll(t, ctx, st, store.FromStart, 0)

		err := st.Append(ctx, "c", events("c", 3)...)
		var le *store.LimitError
		if !errors.Is(err, store.ErrTooManyStreams) || !errors.As(err, &le) || le.StreamID != "c" || le.Max != 2 {
			t.Fatalf("Append to a third stream = %v, want a *store.LimitError for c matching ErrTooManyStreams", err)
		}
		after := mustReadAll(t, ctx, st, store.FromStart, 0)
		if !slices.Equal(ids(after), ids(before)) || !slices.Equal(positions(after), positions(before)) {
			t.Errorf("the refused append changed the store: %v, was %v", describeAll(after), describeAll(before))
		}
		infos, err := st.GetStreams(ctx)
		if err != nil || len(infos) != 2 || infos[0].LastVersion != 2 || infos[1].LastVersion != 1 {
			t.Errorf("GetStreams = %+v, %v; want a at 2 and b at 1", infos, err)
		}
		mustAppend(t, ctx, st, "a", newEvent("a-3", 3)) // existing streams still take events
		if got := mustRead(t, ctx, st, "a", 3, 0); len(got) != 1 || got[0].Position != 4 {
			t.Errorf("the next append to a got %v, want version 3 at position 4", describeAll(got))
		}
	})

	t.Run("MaxEventsPerStream refuses a batch that would pass it and writes none of it", func(t *testing.T) {
		st := open(t, Limits{MaxEventsPerStream: 5})
		ctx := s.ctx(t)
		mustAppend(t, ctx, st, "s", events("s", 4)...)
		err := st.Append(ctx, "s", events("over", 2)...)
		var le *store.LimitError
		if !errors.Is(err, store.ErrStreamFull) || !errors.As(err, &le) || le.Max != 5 {
			t.Fatalf("Append past the limit = %v, want a *store.LimitError matching ErrStreamFull", err)
		}
		if got := mustRead(t, ctx, st, "s", store.FromStart, 0); len(got) != 4 {
			t.Errorf("stream holds %d events after the refused batch, want 4", len(got))
		}
		mustAppend(t, ctx, st, "s", newEvent("s-5", 5))
		mustAppend(t, ctx, st, "other", events("o", 5)...)
	})
}
