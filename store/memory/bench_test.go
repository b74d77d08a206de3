package memory_test

import (
	"strconv"
	"testing"

	"github.com/novaevents/nova/internal/bench"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
	"github.com/novaevents/nova/store/storetest"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./store/memory/
//
// The bodies live in internal/bench/store.go, beside their baselines, so that
// `nova bench` measures the same code. BenchmarkAppend/impl=nova must stay
// within 2x of BenchmarkAppend/impl=baseline (bench.MemoryAppendBaselineEventsOnly)
// at no more than 1 alloc/op; BenchmarkReadLast10's two sizes must cost about
// the same.

// BenchmarkAppend: one event per call to one stream. impl=baseline
// (bench.MemoryAppendBaselineEventsOnly) is a mutex-guarded chunked slice of
// bare events: the yardstick, which impl=nova is judged against.
// impl=records (bench.MemoryAppendBaseline) is the same structure storing
// what the store keeps per event (stream, version, position, timestamp), for
// reference only.
func BenchmarkAppend(b *testing.B) {
	b.Run("impl=baseline", bench.MemoryAppendBaselineEventsOnly)
	b.Run("impl=nova", bench.MemoryAppend)
	b.Run("impl=records", bench.MemoryAppendBaseline)
}

func BenchmarkReadLast10(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run("events="+strconv.Itoa(n), bench.MemoryReadLast10(n))
	}
}

// BenchmarkStore is the benchmark every store runs (storetest.Bench).
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.EventStore { return memory.New(memory.Config{}) })
}
