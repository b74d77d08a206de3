package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/novaevents/nova/store"
)

func (s *suite) testRetention(t *testing.T) {
	trimmer := func(t *testing.T) (store.EventStore, store.Trimmer, context.Context) {
		st, ctx := s.open(t)
		tr, ok := st.(store.Trimmer)
		if !ok {
			t.Skip("the store does not implement store.Trimmer")
		}
		return st, tr, ctx
	}

	// interleave appends ten events to a and five to b, alternating, so that
	// trimming a leaves holes between b's positions.
	interleave := func(t *testing.T, st store.EventStore, ctx context.Context) {
		a, b := events("a", 10), events("b", 5)
		for i := range 10 {
			mustAppend(t, ctx, st, "a", a[i])
			if i%2 == 1 {
				mustAppend(t, ctx, st, "b", b[i/2])
			}
		}
	}

	t.Run("trimming a stream keeps the versions and positions of the rest", func(t *testing.T) {
		st, tr, ctx := trimmer(t)
		interleave(t, st, ctx)
		before := mustReadAll(t, ctx, st, store.FromStart, 0)
		n, err := tr.TrimStream(ctx, "a", 4)
		if err != nil || n != 3 {
			t.Fatalf("TrimStream(a, 4) = %d, %v; want 3, nil", n, err)
		}
		var want []store.Record
		for _, r := range before {
			if r.StreamID != "a" || r.Version >= 4 {
				want = append(want, r)
			}
		}
		// From FromStart the oldest kept position is a's version 4 (or b's
		// first event, whichever is older).
		after := mustReadAll(t, ctx, st, store.FromStart, 0)
		if !slices.Equal(positions(after), positions(want)) || !slices.Equal(ids(after), ids(want)) {
			t.Errorf("after trimming, ReadAll = %v at %v, want %v at %v", ids(after), positions(after), ids(want), positions(want))
		}
		gotA := mustRead(t, ctx, st, "a", store.FromStart, 0)
		if !slices.Equal(versions(gotA), seq(4, 10)) {
			t.Errorf("stream a: versions %v, want 4…10", versions(gotA))
		}
		info, err := st.GetStreamInfo(ctx, "a")
		if err != nil || info.FirstVersion != 4 || info.LastVersion != 10 || info.EventCount != 7 {
			t.Errorf("GetStreamInfo(a) = %+v, %v; want versions 4…10, 7 events", info, err)
		}
		mustAppend(t, ctx, st, "a", newEvent("a-11", 11))
		if got := mustRead(t, ctx, st, "a", 11, 0); len(got) != 1 || got[0].Version != 11 || got[0].Position != 16 {
			t.Errorf("the next append got %v, want version 11 at position 16", describeAll(got))
		}
	})

	t.Run("reading a trimmed version returns a TrimmedError that says where the kept events begin", func(t *testing.T) {
		st, tr, ctx := trimmer(t)
		interleave(t, st, ctx)
		if _, err := tr.TrimStream(ctx, "a", 4); err != nil {
			t.Fatal(err)
		}
		_, err := st.Read(ctx, "a", 2, 0)
		var te *store.TrimmedError
		if !errors.As(err, &te) || !errors.Is(err, store.ErrTrimmed) {
			t.Fatalf("Read(a, 2) = %v, want a *store.TrimmedError", err)
		}
		if te.StreamID != "a" || te.Requested != 2 || te.FirstAvailable != 4 {
			t.Errorf("TrimmedError %+v, want stream a, requested 2, first available 4", *te)
		}
		if got := mustRead(t, ctx, st, "a", store.FromStart, 2); !slices.Equal(versions(got), seq(4, 5)) {
			t.Errorf("Read(a, FromStart) = versions %v, want 4…5", versions(got))
		}
	})

	t.Run("a stream whose events are all trimmed keeps its version", func(t *testing.T) {
		st, tr, ctx := trimmer(t)
		mustAppend(t, ctx, st, "s", events("s", 5)...)
		if n, err := tr.TrimStream(ctx, "s", 100); err != nil || n != 5 {
			t.Fatalf("TrimStream(s, 100) = %d, %v; want 5, nil", n, err)
		}
		info, err := st.GetStreamInfo(ctx, "s")
		if err != nil || info.EventCount != 0 || info.LastVersion != 5 || info.FirstVersion != 6 {
			t.Errorf("GetStreamInfo = %+v, %v; want no events, last version 5, first version 6", info, err)
		}
		if err := st.AppendExpected(ctx, "s", store.NoStream, newEvent("again", 1)); !errors.Is(err, store.ErrConcurrencyConflict) {
			t.Errorf("AppendExpected(NoStream) on a trimmed stream = %v, want a conflict", err)
		}
		if err := st.AppendExpected(ctx, "s", 5, newEvent("s-6", 6)); err != nil {
			t.Fatalf("AppendExpected(5): %v", err)
		}
		if got := mustRead(t, ctx, st, "s", store.FromStart, 0); len(got) != 1 || got[0].Version != 6 || got[0].Position != 6 {
			t.Errorf("after trimming everything the next event is %v, want version 6 at position 6", describeAll(got))
		}
	})

	t.Run("TrimBefore removes what was stored before a time and keeps the positions of the rest", func(t *testing.T) {
		st, tr, ctx := trimmer(t)
		interleave(t, st, ctx)
		before := mustReadAll(t, ctx, st, store.FromStart, 0)
		cut := before[6].StoredAt
		var want []store.Record
		for _, r := range before {
			if !r.StoredAt.Before(cut) {
				want = append(want, r)
			}
		}
		n, err := tr.TrimBefore(ctx, cut)
		if err != nil || n != int64(len(before)-len(want)) {
			t.Fatalf("TrimBefore = %d, %v; want %d, nil", n, err, len(before)-len(want))
		}
		after := mustReadAll(t, ctx, st, store.FromStart, 0)
		if !slices.Equal(positions(after), positions(want)) {
			t.Errorf("ReadAll after TrimBefore = positions %v, want %v", positions(after), positions(want))
		}
		_, err = st.ReadAll(ctx, 1, 0)
		var te *store.TrimmedError
		if !errors.As(err, &te) || te.StreamID != store.AllStreams || te.FirstAvailable != want[0].Position {
			t.Errorf("ReadAll(1) = %v, want a TrimmedError with first available %d", err, want[0].Position)
		}
	})

	t.Run("a subscriber that falls behind the trim point gets a TrimmedError, not a silent gap", func(t *testing.T) {
		st, tr, ctx := trimmer(t)
		mustAppend(t, ctx, st, "s", events("s", 8)...)
		sub := mustSubscribe(t, ctx, st, "s", store.FromStart)
		all := mustSubscribe(t, ctx, st, store.AllStreams, store.FromStart)
		if _, err := tr.TrimStream(ctx, "s", 5); err != nil {
			t.Fatal(err)
		}
		for name, sb := range map[string]store.Subscription{"stream": sub, "all-streams": all} {
			_, err := sb.Next(ctx)
			var te *store.TrimmedError
			if !errors.As(err, &te) || te.FirstAvailable != 5 {
				t.Errorf("%s subscription: Next = %v, want a TrimmedError with first available 5", name, err)
			}
		}
		resumed := mustSubscribe(t, ctx, st, "s", 5)
		if got := receive(t, ctx, resumed, 4); !slices.Equal(versions(got), seq(5, 8)) {
			t.Errorf("resubscribing at the first available version gives %v, want 5…8", versions(got))
		}
	})

	t.Run("events trimmed from one stream are skipped by a read of all streams above the oldest kept", func(t *testing.T) {
		st, tr, ctx := trimmer(t)
		mustAppend(t, ctx, st, "keep", events("k", 1)...) // position 1 stays
		mustAppend(t, ctx, st, "drop", events("d", 3)...) // 2-3 go, 4 stays
		mustAppend(t, ctx, st, "keep", events("k2", 1)...)
		if _, err := tr.TrimStream(ctx, "drop", 3); err != nil {
			t.Fatal(err)
		}
		if got := mustReadAll(t, ctx, st, 2, 0); !slices.Equal(positions(got), []int64{4, 5}) {
			t.Errorf("ReadAll(2) = positions %v, want 4 5", positions(got))
		}
	})
}

func describeAll(recs []store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = describe(r)
	}
	return out
}
