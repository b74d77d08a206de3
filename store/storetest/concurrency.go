package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/novaevents/nova/store"
)

func (s *suite) testConcurrency(t *testing.T) {
	t.Run("AppendExpected succeeds at the stream's version and refuses any other with a typed error", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "s", events("s", 2)...)
		steps := []struct {
			name     string
			stream   string
			expected int64
			n        int
			actual   int64 // version reported by the conflict; -1: no conflict
		}{
			{"behind the stream", "s", 1, 1, 2},
			{"ahead of the stream", "s", 3, 1, 2},
			{"at the stream's version", "s", 2, 2, -1},
			{"NoStream on a stream that exists", "s", store.NoStream, 1, 4},
			{"NoStream on a new stream", "t", store.NoStream, 1, -1},
			{"a version on a stream that does not exist", "u", 5, 1, 0},
			{"AnyVersion", "s", store.AnyVersion, 1, -1},
			{"no events at the right version only checks", "s", 5, 0, -1},
			{"no events at a wrong version is a conflict", "s", 4, 0, 5},
		}
		for i, c := range steps {
			before := mustRead(t, ctx, st, c.stream, store.FromStart, 0)
			err := st.AppendExpected(ctx, c.stream, c.expected, events(fmt.Sprintf("step%d", i), c.n)...)
			after := mustRead(t, ctx, st, c.stream, store.FromStart, 0)
			if c.actual < 0 {
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
				}
				if len(after) != len(before)+c.n {
					t.Errorf("%s: stream has %d events, want %d", c.name, len(after), len(before)+c.n)
				}
				continue
			}
			var ce *store.ConcurrencyError
			if !errors.As(err, &ce) || !errors.Is(err, store.ErrConcurrencyConflict) {
				t.Errorf("%s: error %v, want a *store.ConcurrencyError", c.name, err)
				continue
			}
			if ce.StreamID != c.stream || ce.Expected != c.expected || ce.Actual != c.actual {
				t.Errorf("%s: %+v, want stream %q expected %d actual %d", c.name, *ce, c.stream, c.expected, c.actual)
			}
			if len(after) != len(before) {
				t.Errorf("%s: a refused append changed the stream from %d to %d events", c.name, len(before), len(after))
			}
		}
		if _, err := st.GetStreamInfo(ctx, "u"); !errors.Is(err, store.ErrStreamNotFound) {
			t.Errorf("a refused append created its stream: GetStreamInfo(u) = %v", err)
		}
	})

	t.Run("of concurrent writers expecting the same version exactly one wins", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "s", events("s", 3)...)
		const writers = 8
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, writers)
		)
		for w := range writers {
			wg.Go(func() {
				<-start
				errs[w] = st.AppendExpected(ctx, "s", 3, events(fmt.Sprintf("w%d", w), 2)...)
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for w, err := range errs {
			var ce *store.ConcurrencyError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &ce) && ce.Expected == 3 && ce.Actual == 5:
			default:
				t.Errorf("writer %d: %v, want nil or a conflict at version 5", w, err)
			}
		}
		if wins != 1 {
			t.Errorf("%d writers won, want exactly 1", wins)
		}
		if got := mustRead(t, ctx, st, "s", store.FromStart, 0); !slices.Equal(versions(got), seq(1, 5)) {
			t.Errorf("versions %v, want 1…5", versions(got))
		}
	})

	t.Run("concurrent writers retrying on conflict append every event exactly once", func(t *testing.T) {
		st, ctx := s.open(t)
		const writers, each = 4, 15
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					e := newEvent(fmt.Sprintf("w%d-%d", w, i), i)
					for {
						var version int64
						if info, err := st.GetStreamInfo(ctx, "s"); err == nil {
							version = info.LastVersion
						} else if !errors.Is(err, store.ErrStreamNotFound) {
							t.Errorf("GetStreamInfo: %v", err)
							return
						}
						err := st.AppendExpected(ctx, "s", version, e)
						if err == nil {
							break
						}
						if !errors.Is(err, store.ErrConcurrencyConflict) {
							t.Errorf("AppendExpected: %v", err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		got := mustRead(t, ctx, st, "s", store.FromStart, 0)
		if !slices.Equal(versions(got), seq(1, writers*each)) {
			t.Fatalf("versions %v, want 1…%d", versions(got), writers*each)
		}
		checkUnique(t, got, writers*each)
	})

	t.Run("concurrent batches keep versions contiguous, positions unique and batches whole", func(t *testing.T) {
		st, ctx := s.open(t)
		const writers, batches, size = 4, 20, 3
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range batches {
					stream := fmt.Sprintf("s%d", (w+i)%3)
					if err := st.Append(ctx, stream, events(fmt.Sprintf("w%d-b%d", w, i), size)...); err != nil {
						t.Errorf("Append: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		all := mustReadAll(t, ctx, st, store.FromStart, 0)
		if !slices.Equal(positions(all), seq(1, writers*batches*size)) {
			t.Fatalf("positions %v, want 1…%d", positions(all), writers*batches*size)
		}
		checkUnique(t, all, writers*batches*size)
		// A batch is atomic: its events sit at consecutive positions.
		for i := 0; i < len(all); i += size {
			for j := 1; j < size; j++ {
				if all[i+j].StreamID != all[i].StreamID || all[i+j].Version != all[i].Version+int64(j) {
					t.Fatalf("batch at position %d is interleaved: %s then %s", all[i].Position, describe(all[i]), describe(all[i+j]))
				}
			}
		}
		for _, stream := range []string{"s0", "s1", "s2"} {
			recs := mustRead(t, ctx, st, stream, store.FromStart, 0)
			if !slices.Equal(versions(recs), seq(1, int64(len(recs)))) {
				t.Errorf("stream %s: versions %v are not 1…%d", stream, versions(recs), len(recs))
			}
		}
	})
}

// checkUnique checks that recs holds n records with distinct event IDs.
func checkUnique(t *testing.T, recs []store.Record, n int) {
	t.Helper()
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		if seen[r.ID()] {
			t.Errorf("event %s delivered twice", r.ID())
		}
		seen[r.ID()] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct events, want %d", len(seen), n)
	}
}
