package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
)

// Bench runs the shared benchmarks on stores made by newStore (a fresh one
// for each sub-benchmark):
//
//   - Append: one event per call to one stream;
//   - AppendBatch100: batches of 100 events to one stream;
//   - ReadLast10: the last 10 events of a 1,000-event stream;
//   - Deliver: appends with a subscriber reading them; the clock stops when
//     the subscriber has every event. Events it did not get are reported as
//     drops (always 0 for a correct store).
//
// Each reports events/s.
func Bench(b *testing.B, newStore func(b *testing.B) store.EventStore) {
	ctx := context.Background()
	open := func(b *testing.B) store.EventStore {
		st := newStore(b)
		b.Cleanup(func() { _ = st.Close() })
		return st
	}

	b.Run("Append", func(b *testing.B) {
		st := open(b)
		e := newEvent("bench", 1)
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			if err := st.Append(ctx, "bench", e); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, b.N, start)
	})

	b.Run("AppendBatch100", func(b *testing.B) {
		st := open(b)
		batch := events("bench", 100)
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			if err := st.Append(ctx, "bench", batch...); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, b.N*len(batch), start)
	})

	b.Run("ReadLast10", func(b *testing.B) {
		st := open(b)
		const n = 1000
		batch := events("bench", 100)
		for range n / len(batch) {
			if err := st.Append(ctx, "bench", batch...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			recs, err := st.Read(ctx, "bench", n-9, 10)
			if err != nil || len(recs) != 10 {
				b.Fatalf("Read = %d records, %v", len(recs), err)
			}
		}
		reportRate(b, b.N*10, start)
	})

	b.Run("Deliver", func(b *testing.B) {
		st := open(b)
		sub, err := st.Subscribe(ctx, "bench", store.FromEnd)
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Close()
		evs := make([]shared.Event, 64)
		for i := range evs {
			evs[i] = newEvent("bench-"+strconv.Itoa(i), i)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		received := make(chan int, 1)
		go func() {
			n := 0
			for n < b.N {
				if _, err := sub.Next(ctx); err != nil {
					break
				}
				n++
			}
			received <- n
		}()
		for i := range b.N {
			if err := st.Append(ctx, "bench", evs[i%len(evs)]); err != nil {
				b.Fatal(err)
			}
		}
		n := <-received
		b.StopTimer()
		reportRate(b, n, start)
		b.ReportMetric(float64(b.N-n), "drops")
	})
}

func reportRate(b *testing.B, events int, start time.Time) {
	if d := time.Since(start); d > 0 {
		b.ReportMetric(float64(events)/d.Seconds(), "events/s")
	}
}
