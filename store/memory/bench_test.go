package memory_test

import (
	"strconv"
	"testing"

	"github.com/novaevents/nova/internal/bench/benchkit/testb"
	"github.com/novaevents/nova/internal/bench/memorybench"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
	"github.com/novaevents/nova/store/storetest"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./store/memory/
//
// The bodies live in internal/bench/memorybench, beside their baselines, so that
// `nova bench` measures the same code. BenchmarkAppend/impl=nova must stay
// within 2x of BenchmarkAppend/impl=baseline (memorybench.MemoryAppendBaselineEventsOnly)
// at no more than 1 alloc/op; BenchmarkReadLast10's two sizes must cost about
// the same.

// BenchmarkAppend: one event per call to one stream. impl=baseline
// (memorybench.MemoryAppendBaselineEventsOnly) is a mutex-guarded chunked slice of
// bare events: the yardstick, which impl=nova is judged against.
// impl=records (memorybench.MemoryAppendBaseline) is the same structure storing
// what the store keeps per event (stream, version, position, timestamp), for
// reference only.
func BenchmarkAppend(b *testing.B) {
	b.Run("impl=baseline", testb.F(memorybench.MemoryAppendBaselineEventsOnly))
	b.Run("impl=nova", testb.F(memorybench.MemoryAppend))
	b.Run("impl=records", testb.F(memorybench.MemoryAppendBaseline))
}

func BenchmarkReadLast10(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run("events="+strconv.Itoa(n), testb.F(memorybench.MemoryReadLast10(n)))
	}
}

// BenchmarkStore is the benchmark every store runs (storetest.Bench).
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.EventStore { return memory.New(memory.Config{}) })
}
