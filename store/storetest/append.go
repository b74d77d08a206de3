package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/novaevents/nova/store"
)

func (s *suite) testAppendRead(t *testing.T) {
	t.Run("appended events come back in order with gap-free versions and positions", func(t *testing.T) {
		st, ctx := s.open(t)
		a, b := events("a", 4), events("b", 2)
		mustAppend(t, ctx, st, "a", a[:3]...) // positions 1-3
		mustAppend(t, ctx, st, "b", b...)     // 4-5
		mustAppend(t, ctx, st, "a", a[3])     // 6

		got := mustRead(t, ctx, st, "a", store.FromStart, 0)
		if !slices.Equal(ids(got), eventIDs(a)) {
			t.Fatalf("stream a: IDs %v, want %v", ids(got), eventIDs(a))
		}
		if !slices.Equal(versions(got), seq(1, 4)) {
			t.Errorf("stream a: versions %v, want 1…4", versions(got))
		}
		if want := []int64{1, 2, 3, 6}; !slices.Equal(positions(got), want) {
			t.Errorf("stream a: positions %v, want %v", positions(got), want)
		}
		for i, r := range got {
			if r.StreamID != "a" {
				t.Errorf("record %s: StreamID %q, want a", describe(r), r.StreamID)
			}
			checkSameEvent(t, r, a[i])
		}
		gotB := mustRead(t, ctx, st, "b", store.FromStart, 0)
		if !slices.Equal(versions(gotB), seq(1, 2)) || !slices.Equal(positions(gotB), []int64{4, 5}) {
			t.Errorf("stream b: versions %v positions %v, want 1…2 at 4…5", versions(gotB), positions(gotB))
		}
	})

	t.Run("Read starts at a version and stops at the limit", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "s", events("s", 10)...)
		cases := []struct {
			name  string
			from  int64
			limit int
			want  []int64
		}{
			{"from the start, no limit", store.FromStart, 0, seq(1, 10)},
			{"from version 1", 1, 0, seq(1, 10)},
			{"from version 4, three of them", 4, 3, seq(4, 6)},
			{"a limit past the end", 8, 100, seq(8, 10)},
			{"the last version", 10, 1, []int64{10}},
			{"past the end", 11, 5, nil},
			{"far past the end", 1000, 0, nil},
			{"from the end", store.FromEnd, 0, nil},
			{"a negative limit reads all", 9, -1, seq(9, 10)},
		}
		for _, c := range cases {
			got := mustRead(t, ctx, st, "s", c.from, c.limit)
			if !slices.Equal(versions(got), c.want) {
				t.Errorf("%s: versions %v, want %v", c.name, versions(got), c.want)
			}
		}
	})

	t.Run("reading a stream that does not exist returns no records", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "exists", events("e", 1)...)
		if got := mustRead(t, ctx, st, "missing", store.FromStart, 0); len(got) != 0 {
			t.Errorf("Read(missing) = %d records, want none", len(got))
		}
	})

	t.Run("ReadAll returns every stream in position order from a position", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "x", events("x", 3)...)
		mustAppend(t, ctx, st, "y", events("y", 2)...)
		mustAppend(t, ctx, st, "x", newEvent("x-4", 4))
		all := mustReadAll(t, ctx, st, store.FromStart, 0)
		if !slices.Equal(positions(all), seq(1, 6)) {
			t.Fatalf("positions %v, want 1…6", positions(all))
		}
		if want := []string{"x-1", "x-2", "x-3", "y-1", "y-2", "x-4"}; !slices.Equal(ids(all), want) {
			t.Errorf("IDs %v, want %v", ids(all), want)
		}
		if got := mustReadAll(t, ctx, st, 4, 2); !slices.Equal(ids(got), []string{"y-1", "y-2"}) {
			t.Errorf("ReadAll(4, 2) = %v, want y-1 y-2", ids(got))
		}
		if got := mustReadAll(t, ctx, st, 7, 0); len(got) != 0 {
			t.Errorf("ReadAll past the end = %v, want none", ids(got))
		}
		if got := mustReadAll(t, ctx, st, store.FromEnd, 0); len(got) != 0 {
			t.Errorf("ReadAll(FromEnd) = %v, want none", ids(got))
		}
	})

	t.Run("StoredAt never decreases along positions", func(t *testing.T) {
		st, ctx := s.open(t)
		for i := range 20 {
			mustAppend(t, ctx, st, []string{"p", "q"}[i%2], events("e"+string(rune('a'+i)), 1+i%3)...)
		}
		all := mustReadAll(t, ctx, st, store.FromStart, 0)
		for i := 1; i < len(all); i++ {
			if all[i].StoredAt.Before(all[i-1].StoredAt) {
				t.Errorf("position %d stored at %v, before position %d at %v",
					all[i].Position, all[i].StoredAt, all[i-1].Position, all[i-1].StoredAt)
			}
		}
	})

	t.Run("ReadTimeRange returns the records stored in a half-open range", func(t *testing.T) {
		st, ctx := s.open(t)
		for i := range 12 {
			mustAppend(t, ctx, st, []string{"p", "q", "r"}[i%3], events("t"+string(rune('a'+i)), 1+i%2)...)
		}
		all := mustReadAll(t, ctx, st, store.FromStart, 0)
		first, last := all[0].StoredAt, all[len(all)-1].StoredAt
		cases := []struct {
			name       string
			start, end time.Time
			limit      int
		}{
			{"both ends open", time.Time{}, time.Time{}, 0},
			{"from the first", first, time.Time{}, 0},
			{"up to the last, excluded", time.Time{}, last, 0},
			{"a middle slice", all[3].StoredAt, all[len(all)-4].StoredAt, 0},
			{"a middle slice, limited", all[3].StoredAt, time.Time{}, 2},
			{"after everything", last.Add(time.Second), time.Time{}, 0},
			{"before everything", time.Time{}, first.Add(-time.Second), 0},
			{"an empty range", all[5].StoredAt, all[5].StoredAt, 0},
		}
		for _, c := range cases {
			var want []store.Record
			for _, r := range all {
				if (c.start.IsZero() || !r.StoredAt.Before(c.start)) && (c.end.IsZero() || r.StoredAt.Before(c.end)) {
					want = append(want, r)
				}
			}
			if c.limit > 0 && len(want) > c.limit {
				want = want[:c.limit]
			}
			got, err := st.ReadTimeRange(ctx, c.start, c.end, c.limit)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !slices.Equal(positions(got), positions(want)) {
				t.Errorf("%s: positions %v, want %v", c.name, positions(got), positions(want))
			}
		}
	})

	t.Run("Replay visits the range in order and stops at the callback's error", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "a", events("a", 3)...)
		mustAppend(t, ctx, st, "b", events("b", 3)...)
		all := mustReadAll(t, ctx, st, store.FromStart, 0)

		var seen []store.Record
		if err := st.Replay(ctx, time.Time{}, time.Time{}, func(r store.Record) error {
			seen = append(seen, r)
			return nil
		}); err != nil {
			t.Fatalf("Replay: %v", err)
		}
		if !slices.Equal(positions(seen), positions(all)) {
			t.Errorf("Replay visited %v, want %v", positions(seen), positions(all))
		}

		stop := errors.New("enough")
		calls := 0
		err := st.Replay(ctx, time.Time{}, time.Time{}, func(store.Record) error {
			calls++
			if calls == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 2 {
			t.Errorf("Replay = %v after %d calls, want the callback's error after 2", err, calls)
		}
	})

	t.Run("Replay lets the callback append and does not visit what it appends", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "a", events("a", 5)...)
		var seen []string
		err := st.Replay(ctx, time.Time{}, time.Time{}, func(r store.Record) error {
			seen = append(seen, r.ID())
			return st.Append(ctx, "copy", newEvent("copy-"+r.ID(), 1))
		})
		if err != nil {
			t.Fatalf("Replay: %v", err)
		}
		if want := eventIDs(events("a", 5)); !slices.Equal(seen, want) {
			t.Errorf("Replay visited %v, want %v", seen, want)
		}
		if got := mustRead(t, ctx, st, "copy", store.FromStart, 0); len(got) != 5 {
			t.Errorf("the callback appended %d events, want 5", len(got))
		}
	})
}
