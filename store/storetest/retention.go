package storetest

import (
	"context"
	"errors"
	"fmt"
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
		// The oldest kept event is b's first, at position 3; a's version 3,
		// at position 4, is a hole above it.
		after, holes := readAllKept(t, ctx, st)
		if !slices.Equal(positions(after), positions(want)) || !slices.Equal(ids(after), ids(want)) {
			t.Errorf("after trimming, ReadAll = %v at %v, want %v at %v", ids(after), positions(after), ids(want), positions(want))
		}
		if !slices.Equal(holes, []int64{4}) {
			t.Errorf("ReadAll met holes at %v, want at 4 (a's version 3)", holes)
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

	// Trimming one stream leaves holes in the positions while an older event
	// of another stream is kept. A reader of all streams that reaches one
	// must be told, like a reader below the oldest kept event.
	twoStreams := func(t *testing.T) (store.EventStore, store.Trimmer, context.Context, store.Subscription) {
		st, tr, ctx := trimmer(t)
		mustAppend(t, ctx, st, "keep", newEvent("k-1", 1)) // position 1, kept
		mustAppend(t, ctx, st, "a", newEvent("a-1", 1))    // position 2
		sub := mustSubscribe(t, ctx, st, store.AllStreams, store.FromStart)
		if got := receive(t, ctx, sub, 2); !slices.Equal(positions(got), seq(1, 2)) {
			t.Fatalf("all-streams subscription: positions %v, want 1 2", positions(got))
		}
		mustAppend(t, ctx, st, "a", newEvent("a-2", 2))    // position 3
		mustAppend(t, ctx, st, "keep", newEvent("k-2", 2)) // position 4
		if n, err := tr.TrimStream(ctx, "a", 3); err != nil || n != 2 {
			t.Fatalf("TrimStream(a, 3) = %d, %v; want 2, nil", n, err)
		}
		return st, tr, ctx, sub
	}

	t.Run("an all-streams subscriber that reaches a position trimmed from another stream gets a TrimmedError, not a jump", func(t *testing.T) {
		st, _, ctx, sub := twoStreams(t)
		for range 2 { // the subscription stays at the hole
			r, err := sub.Next(ctx)
			if !wantTrimmedAt(t, "Next at position 3", r, err, 3, 4) {
				break
			}
		}
		resumed := mustSubscribe(t, ctx, st, store.AllStreams, 4)
		if got := receive(t, ctx, resumed, 1); got[0].ID() != "k-2" || got[0].Position != 4 {
			t.Errorf("resubscribing at the first available position gives %s, want k-2 at 4", describe(got[0]))
		}
	})

	t.Run("an all-streams subscription delivers the records before a hole and then reports it", func(t *testing.T) {
		st, _, ctx, _ := twoStreams(t)
		sub := mustSubscribe(t, ctx, st, store.AllStreams, store.FromStart)
		if got := receive(t, ctx, sub, 1); got[0].ID() != "k-1" {
			t.Fatalf("first record %s, want k-1", describe(got[0]))
		}
		r, err := sub.Next(ctx)
		wantTrimmedAt(t, "Next at position 2", r, err, 2, 4)
	})

	t.Run("ReadAll returns a TrimmedError at a position trimmed from one stream, with the records before it", func(t *testing.T) {
		st, _, ctx, _ := twoStreams(t)
		recs, err := st.ReadAll(ctx, 3, 0)
		if len(recs) != 0 {
			t.Errorf("ReadAll(3) returned %v with its error, want none", describeAll(recs))
		}
		wantTrimmedAt(t, "ReadAll(3)", store.Record{}, err, 3, 4)
		for _, from := range []int64{store.FromStart, 1} {
			recs, err := st.ReadAll(ctx, from, 0)
			if !slices.Equal(ids(recs), []string{"k-1"}) {
				t.Errorf("ReadAll(%d) returned %v, want k-1 before the hole", from, describeAll(recs))
			}
			wantTrimmedAt(t, fmt.Sprintf("ReadAll(%d)", from), store.Record{}, err, 2, 4)
		}
		if got := mustReadAll(t, ctx, st, 1, 1); !slices.Equal(ids(got), []string{"k-1"}) {
			t.Errorf("ReadAll(1, limit 1) = %v, want k-1 and no error: the limit comes before the hole", describeAll(got))
		}
		if got := mustReadAll(t, ctx, st, 4, 0); !slices.Equal(ids(got), []string{"k-2"}) {
			t.Errorf("ReadAll(4) = %v, want k-2", describeAll(got))
		}
	})

	t.Run("a hole at the end of the log is reported too, and a subscriber goes on from the next append", func(t *testing.T) {
		st, tr, ctx := trimmer(t)
		mustAppend(t, ctx, st, "keep", newEvent("k-1", 1)) // position 1, kept
		sub := mustSubscribe(t, ctx, st, store.AllStreams, store.FromStart)
		receive(t, ctx, sub, 1)
		mustAppend(t, ctx, st, "a", events("a", 2)...) // positions 2 and 3
		if n, err := tr.TrimStream(ctx, "a", 100); err != nil || n != 2 {
			t.Fatalf("TrimStream(a, 100) = %d, %v; want 2, nil", n, err)
		}
		r, err := sub.Next(ctx)
		wantTrimmedAt(t, "Next at position 2", r, err, 2, 4)
		_, err = st.ReadAll(ctx, 2, 0)
		wantTrimmedAt(t, "ReadAll(2)", store.Record{}, err, 2, 4)
		resumed := mustSubscribe(t, ctx, st, store.AllStreams, 4)
		mustAppend(t, ctx, st, "keep", newEvent("k-2", 2))
		if got := receive(t, ctx, resumed, 1); got[0].ID() != "k-2" || got[0].Position != 4 {
			t.Errorf("resubscribing at the first available position gives %s, want k-2 at 4", describe(got[0]))
		}
	})
}

// wantTrimmedAt checks that a read of all streams failed with a
// *store.TrimmedError for position requested, saying that firstAvailable is
// where the kept events go on, and that r is the zero Record. It reports
// whether all of that held.
func wantTrimmedAt(t *testing.T, what string, r store.Record, err error, requested, firstAvailable int64) bool {
	t.Helper()
	var te *store.TrimmedError
	if !errors.As(err, &te) || !errors.Is(err, store.ErrTrimmed) {
		t.Errorf("%s = record %s, %v; want a *store.TrimmedError", what, describe(r), err)
		return false
	}
	ok := true
	if te.StreamID != store.AllStreams || te.Requested != requested || te.FirstAvailable != firstAvailable {
		t.Errorf("%s: TrimmedError %+v, want stream %q, requested %d, first available %d",
			what, *te, store.AllStreams, requested, firstAvailable)
		ok = false
	}
	if r.Event != nil {
		t.Errorf("%s returned record %s with its error, want the zero Record", what, describe(r))
		ok = false
	}
	return ok
}

// readAllKept reads every event kept in st, in pages, going on past each hole
// that trimming left (a *store.TrimmedError) as a reader that accepts the
// loss does. It returns the records and the positions of the holes met.
func readAllKept(t *testing.T, ctx context.Context, st store.EventStore) (recs []store.Record, holes []int64) {
	t.Helper()
	from := store.FromStart
	for {
		page, err := st.ReadAll(ctx, from, 3)
		recs = append(recs, page...)
		if n := len(page); n > 0 {
			from = page[n-1].Position + 1
		}
		var te *store.TrimmedError
		switch {
		case errors.As(err, &te):
			if te.FirstAvailable <= te.Requested {
				t.Fatalf("ReadAll(%d, 3): %v does not move past the hole", from, err)
			}
			holes = append(holes, te.Requested)
			from = te.FirstAvailable
		case err != nil:
			t.Fatalf("ReadAll(%d, 3): %v", from, err)
		case len(page) == 0:
			return recs, holes
		}
	}
}

func describeAll(recs []store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = describe(r)
	}
	return out
}
