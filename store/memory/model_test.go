package memory_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
)

// model is the reference version of the store: a plain slice of every event
// ever appended, with a flag for the trimmed ones. It is slow and obviously
// right; the chunked log and indexes must agree with it.
type model struct {
	recs    []modelRecord // index i holds position i+1
	version map[string]int64
}

type modelRecord struct {
	id, stream string
	version    int64
	at         time.Time
	trimmed    bool
}

func (m *model) kept(stream string) []int64 { // positions
	var out []int64
	for i, r := range m.recs {
		if !r.trimmed && (stream == store.AllStreams || r.stream == stream) {
			out = append(out, int64(i+1))
		}
	}
	return out
}

// head is the oldest kept position, or the next one.
func (m *model) head() int64 {
	for i, r := range m.recs {
		if !r.trimmed {
			return int64(i + 1)
		}
	}
	return int64(len(m.recs) + 1)
}

func (m *model) firstVersion(stream string) int64 {
	for _, r := range m.recs {
		if r.stream == stream && !r.trimmed {
			return r.version
		}
	}
	return m.version[stream] + 1
}

// TestChunkedStorageMatchesAReferenceModel drives the store and the model
// with the same random appends and trims, across many chunk boundaries, and
// compares every kind of read.
func TestChunkedStorageMatchesAReferenceModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(1, 2))
		st := memory.New(memory.Config{})
		defer st.Close()
		m := &model{version: map[string]int64{}}
		streams := []string{"a", "b", "c", "d", "e"}

		for op := range 4000 {
			switch k := rng.IntN(100); {
			case k < 85: // append a batch; the fake clock moves 0-2ms first
				time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
				stream := streams[rng.IntN(len(streams))]
				if rng.IntN(4) == 0 {
					stream = "big" // one stream grows past an index chunk
				}
				n := 1 + rng.IntN(4)
				evs := make([]modelEventID, n)
				for i := range evs {
					evs[i] = modelEventID(fmt.Sprintf("op%d-%d", op, i))
				}
				if err := st.Append(ctx, stream, toEvents(evs)...); err != nil {
					t.Fatal(err)
				}
				for _, id := range evs {
					m.version[stream]++
					m.recs = append(m.recs, modelRecord{id: string(id), stream: stream, version: m.version[stream], at: time.Now()})
				}
			case k < 95: // trim the front of one stream
				stream := streams[rng.IntN(len(streams))]
				before := m.firstVersion(stream) + int64(rng.IntN(30))
				n, err := st.TrimStream(ctx, stream, before)
				if err != nil {
					t.Fatal(err)
				}
				var want int64
				for i := range m.recs {
					if r := &m.recs[i]; r.stream == stream && !r.trimmed && r.version < before {
						r.trimmed = true
						want++
					}
				}
				if n != want {
					t.Fatalf("op %d: TrimStream(%s, %d) removed %d, want %d", op, stream, before, n, want)
				}
			default: // trim everything stored before a recent time
				cut := time.Now().Add(time.Duration(100-rng.IntN(4000)) * time.Millisecond) // sometimes everything
				if _, err := st.TrimBefore(ctx, cut); err != nil {
					t.Fatal(err)
				}
				for i := range m.recs {
					if m.recs[i].at.Before(cut) {
						m.recs[i].trimmed = true
					}
				}
			}
			if op%40 == 0 || op == 3999 {
				compare(t, ctx, st, m, rng, op)
			}
		}
	})
}

type modelEventID string

func toEvents(ids []modelEventID) []shared.Event {
	out := make([]shared.Event, len(ids))
	for i, id := range ids {
		out[i] = event(string(id))
	}
	return out
}

func compare(t *testing.T, ctx context.Context, st *memory.Store, m *model, rng *rand.Rand, op int) {
	t.Helper()
	check := func(what string, got []store.Record, err error, want []int64, trimmedFrom int64) {
		t.Helper()
		if trimmedFrom > 0 {
			var te *store.TrimmedError
			if !errors.As(err, &te) || te.FirstAvailable != trimmedFrom {
				t.Fatalf("op %d: %s = %v, want a TrimmedError from %d", op, what, err, trimmedFrom)
			}
			return
		}
		if err != nil {
			t.Fatalf("op %d: %s: %v", op, what, err)
		}
		if len(got) != len(want) {
			t.Fatalf("op %d: %s returned %d records, want %d", op, what, len(got), len(want))
		}
		for i, r := range got {
			mr := m.recs[want[i]-1]
			if r.Position != want[i] || r.ID() != mr.id || r.StreamID != mr.stream || r.Version != mr.version || !r.StoredAt.Equal(mr.at) {
				t.Fatalf("op %d: %s record %d is %s %s v%d p%d at %v, want %s %s v%d p%d at %v", op, what, i,
					r.ID(), r.StreamID, r.Version, r.Position, r.StoredAt, mr.id, mr.stream, mr.version, want[i], mr.at)
			}
		}
	}

	// ReadAll from the start and from random positions: consecutive
	// positions, and a TrimmedError at the first trimmed one, with the
	// records before it.
	all := m.kept(store.AllStreams)
	readAll := func(from int64, limit int) {
		t.Helper()
		what := fmt.Sprintf("ReadAll(%d, %d)", from, limit)
		got, err := st.ReadAll(ctx, from, limit)
		if from == store.FromStart {
			from = m.head()
		}
		var want []int64
		p := from
		for ; p <= int64(len(m.recs)) && (limit == 0 || len(want) < limit); p++ {
			if m.recs[p-1].trimmed {
				break
			}
			want = append(want, p)
		}
		var te *store.TrimmedError
		if p <= int64(len(m.recs)) && m.recs[p-1].trimmed && (limit == 0 || len(want) < limit) {
			next := p
			for next <= int64(len(m.recs)) && m.recs[next-1].trimmed {
				next++
			}
			if !errors.As(err, &te) || te.Requested != p || te.FirstAvailable != next {
				t.Fatalf("op %d: %s = %v, want a TrimmedError at %d, first available %d", op, what, err, p, next)
			}
			err = nil
		}
		check(what, got, err, want, 0)
	}
	readAll(store.FromStart, 0)
	for range 5 {
		readAll(1+rng.Int64N(int64(len(m.recs))+2), rng.IntN(50))
	}
	// And every kept event, going on past each hole.
	var kept []store.Record
	for from := store.FromStart; ; {
		page, err := st.ReadAll(ctx, from, 100)
		kept = append(kept, page...)
		if n := len(page); n > 0 {
			from = page[n-1].Position + 1
		}
		var te *store.TrimmedError
		if errors.As(err, &te) {
			from = te.FirstAvailable
		} else if err != nil || len(page) == 0 {
			check("ReadAll past the holes", kept, err, all, 0)
			break
		}
	}

	// Every stream, whole and from random versions.
	for stream := range m.version {
		kept := m.kept(stream)
		got, err := st.Read(ctx, stream, store.FromStart, 0)
		check("Read("+stream+")", got, err, kept, 0)
		first := m.firstVersion(stream)
		info, err := st.GetStreamInfo(ctx, stream)
		if err != nil || info.FirstVersion != first || info.LastVersion != m.version[stream] || info.EventCount != int64(len(kept)) {
			t.Fatalf("op %d: GetStreamInfo(%s) = %+v, %v; want versions %d…%d, %d events", op, stream, info, err, first, m.version[stream], len(kept))
		}
		from := 1 + rng.Int64N(m.version[stream]+1)
		limit := rng.IntN(20)
		var want []int64
		for _, p := range kept {
			if m.recs[p-1].version >= from && (limit == 0 || len(want) < limit) {
				want = append(want, p)
			}
		}
		trimmedFrom := int64(0)
		if from < first {
			trimmedFrom = first
		}
		got, err = st.Read(ctx, stream, from, limit)
		check(fmt.Sprintf("Read(%s, %d, %d)", stream, from, limit), got, err, want, trimmedFrom)
	}

	// A random time range.
	if len(m.recs) > 0 {
		a := m.recs[rng.IntN(len(m.recs))].at
		b := a.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
		var want []int64
		for _, p := range all {
			if at := m.recs[p-1].at; !at.Before(a) && at.Before(b) {
				want = append(want, p)
			}
		}
		got, err := st.ReadTimeRange(ctx, a, b, 0)
		check("ReadTimeRange", got, err, want, 0)
	}
}
