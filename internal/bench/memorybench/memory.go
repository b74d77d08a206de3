package memorybench

import (
	"context"
	"strconv"
	"sync"

	"time"

	"github.com/novaevents/nova/internal/bench/benchkit"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store/memory"
)

// MemoryAppend appends one event per call to one stream of a memory store.
// An append is complete when it returns: the event is readable by version and
// position, and waiting subscribers are woken. Judged against
// MemoryAppendBaselineEventsOnly, which BenchmarkAppend runs as impl=baseline
// (at most 2x, at most 1 alloc/op); MemoryAppendBaseline is shown for
// reference.
func MemoryAppend(b benchkit.B) {
	ctx := context.Background()
	st := memory.New(memory.Config{})
	defer st.Close()
	e := shared.NewBaseEvent("bench-1", "bench.event", nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := st.Append(ctx, "bench", e); err != nil {
			b.Fatal(err)
		}
	}
}

// MemoryAppendBaseline is the simplest store that keeps what the memory store
// keeps for an event: a mutex over a map of streams, each a chunked slice of
// records (the event, its version and position, when it was stored, read from
// the same monotonic clock). No validation, limits, retention, subscriptions
// or reads by global position. Shown for reference
// (BenchmarkAppend/impl=records).
func MemoryAppendBaseline(b benchkit.B) {
	s := &chunkedBaseline[baselineRecord]{streams: map[string]*baselineStream[baselineRecord]{}, epoch: time.Now()}
	e := shared.NewBaseEvent("bench-1", "bench.event", nil)
	b.ReportAllocs()
	for b.Loop() {
		at := int64(time.Since(s.epoch))
		s.append("bench", func(version, position int64) baselineRecord {
			return baselineRecord{event: e, version: version, position: position, storedAt: at}
		})
	}
}

// MemoryAppendBaselineEventsOnly is the same mutex and chunked slices holding
// bare events: the baseline MemoryAppend is judged against
// (BenchmarkAppend/impl=baseline).
func MemoryAppendBaselineEventsOnly(b benchkit.B) {
	s := &chunkedBaseline[shared.Event]{streams: map[string]*baselineStream[shared.Event]{}}
	e := shared.NewBaseEvent("bench-1", "bench.event", nil)
	b.ReportAllocs()
	for b.Loop() {
		s.append("bench", func(int64, int64) shared.Event { return e })
	}
}

type chunkedBaseline[T any] struct {
	mu       sync.Mutex
	streams  map[string]*baselineStream[T]
	position int64
	epoch    time.Time
}

type baselineStream[T any] struct {
	version int64
	chunks  [][]T
}

type baselineRecord struct {
	event    shared.Event
	version  int64
	position int64
	storedAt int64
}

func (s *chunkedBaseline[T]) append(streamID string, record func(version, position int64) T) {
	s.mu.Lock()
	st := s.streams[streamID]
	if st == nil {
		st = &baselineStream[T]{}
		s.streams[streamID] = st
	}
	n := len(st.chunks)
	if n == 0 || len(st.chunks[n-1]) == cap(st.chunks[n-1]) {
		st.chunks = append(st.chunks, make([]T, 0, 1024))
		n++
	}
	st.version++
	s.position++
	st.chunks[n-1] = append(st.chunks[n-1], record(st.version, s.position))
	s.mu.Unlock()
}

// MemoryReadLast10 reads the last ten events of a memory-store stream of n
// events; its cost must not depend on n (compare n = 1,000 and 1,000,000).
func MemoryReadLast10(n int) benchkit.Body {
	return func(b benchkit.B) {
		ctx := context.Background()
		st := memory.New(memory.Config{})
		defer st.Close()
		batch := make([]shared.Event, 1000)
		for i := range batch {
			batch[i] = shared.NewBaseEvent("e-"+strconv.Itoa(i), "bench.event", i)
		}
		for range max(1, n/len(batch)) {
			if err := st.Append(ctx, "bench", batch[:min(n, len(batch))]...); err != nil {
				b.Fatal(err)
			}
		}
		from := max(1, int64(n)-9)
		b.ReportAllocs()
		for b.Loop() {
			recs, err := st.Read(ctx, "bench", from, 10)
			if err != nil || len(recs) == 0 {
				b.Fatalf("Read = %d records, %v", len(recs), err)
			}
		}
	}
}
