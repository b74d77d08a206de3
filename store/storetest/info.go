package storetest

import (
	"errors"
	"testing"

	"github.com/novaevents/nova/store"
)

func (s *suite) testInfo(t *testing.T) {
	t.Run("GetStreams lists every stream sorted by ID with its counts and versions", func(t *testing.T) {
		st, ctx := s.open(t)
		if infos, err := st.GetStreams(ctx); err != nil || len(infos) != 0 {
			t.Fatalf("GetStreams on an empty store = %v, %v; want none", infos, err)
		}
		mustAppend(t, ctx, st, "b", events("b", 2)...)
		mustAppend(t, ctx, st, "a", events("a", 3)...)
		mustAppend(t, ctx, st, "c", events("c", 1)...)
		infos, err := st.GetStreams(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			id    string
			count int64
		}{{"a", 3}, {"b", 2}, {"c", 1}}
		if len(infos) != len(want) {
			t.Fatalf("GetStreams = %+v, want streams a, b, c", infos)
		}
		for i, w := range want {
			in := infos[i]
			if in.StreamID != w.id || in.EventCount != w.count || in.FirstVersion != 1 || in.LastVersion != w.count {
				t.Errorf("stream %d: %+v, want %s with versions 1…%d", i, in, w.id, w.count)
			}
			if in.FirstEventAt.IsZero() || in.LastEventAt.Before(in.FirstEventAt) || in.CreatedAt.IsZero() {
				t.Errorf("stream %s: times created %v, first %v, last %v", in.StreamID, in.CreatedAt, in.FirstEventAt, in.LastEventAt)
			}
		}
		one, err := st.GetStreamInfo(ctx, "a")
		if err != nil || one != infos[0] {
			t.Errorf("GetStreamInfo(a) = %+v, %v; want %+v", one, err, infos[0])
		}
	})

	t.Run("GetStreamInfo of an unknown stream returns ErrStreamNotFound", func(t *testing.T) {
		st, ctx := s.open(t)
		if _, err := st.GetStreamInfo(ctx, "nope"); !errors.Is(err, store.ErrStreamNotFound) {
			t.Errorf("GetStreamInfo(nope) = %v, want ErrStreamNotFound", err)
		}
	})

	t.Run("Stats count appends, refusals, conflicts and subscriptions", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "s", events("s", 3)...)
		_ = st.AppendExpected(ctx, "s", 1, events("late", 1)...)
		_ = st.Append(ctx, "", events("x", 1)...)
		sub := mustSubscribe(t, ctx, st, "s", store.FromStart)
		receive(t, ctx, sub, 3)
		got := st.Stats()
		if got.EventsAppended != 3 || got.AppendsRejected != 2 || got.ConcurrencyConflicts != 1 ||
			got.SubscriptionsActive != 1 || got.LastPosition != 3 || got.EventsRead < 3 {
			t.Errorf("Stats = %+v; want 3 appended, 2 rejected, 1 conflict, 1 subscription, last position 3, at least 3 read", got)
		}
		_ = sub.Close()
		if got := st.Stats().SubscriptionsActive; got != 0 {
			t.Errorf("after Close, SubscriptionsActive = %d, want 0", got)
		}
	})
}
