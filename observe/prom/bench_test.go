package prom_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/observe/prom"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// The benchmarks below run each path four times in one run: without
// Metrics ("none"), with shared.NopMetrics ("nop"), with observe/prom
// attached to the component ("prom"), and with observe/prom attached to the
// component and its pool ("prom+pool"). prom - none is the per-event cost of
// the metrics; prom - nop is observe/prom's share of it; prom+pool - prom
// is what timing every pool task adds.

func benchMetrics(b *testing.B, v variant) shared.Metrics {
	switch strings.TrimSuffix(v.name, "+pool") {
	case "none":
		return nil
	case "nop":
		return shared.NopMetrics{}
	}
	m, err := prom.New(prom.Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// variant "nop" attaches shared.NopMetrics: what the component itself
// spends on reporting (reading the clock to time attempts and tasks),
// before observe/prom does anything.
type variant struct{ name string }

var variants = []variant{{"none"}, {"nop"}, {"prom"}, {"prom+pool"}}

// poolMetrics is what the variant gives the pool.
func (v variant) poolMetrics(m shared.Metrics) shared.Metrics {
	if v.name == "prom" {
		return nil
	}
	return m
}

// counter signals when the want-th event has been handled.
type counter struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func newCounter(want int) *counter { return &counter{want: int64(want), done: make(chan struct{})} }

func (c *counter) add() {
	if c.n.Add(1) == c.want {
		close(c.done)
	}
}

func poolWith(workers, queue int, m shared.Metrics) *workerpool.Pool {
	if m == nil {
		return workerpool.New(workers, queue)
	}
	return workerpool.New(workers, queue, workerpool.WithMetrics(m))
}

// BenchmarkEmit: Emit with one no-op listener, in one goroutine; with
// metrics that is one EventEmitted and one timed EventHandled per event.
func BenchmarkEmit(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			em := emitter.New(emitter.Config{Metrics: benchMetrics(b, v)})
			defer em.Shutdown(context.Background())
			em.Subscribe("bench.event", shared.NewBaseListener("bench", func(shared.Event) error { return nil }))
			ev := shared.NewBaseEvent("id", "bench.event", nil)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := em.Emit(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEmitAsync: EmitAsync until every event is handled, on a pool of
// two workers; refused events count as drops/op.
func BenchmarkEmitAsync(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			m := benchMetrics(b, v)
			pool := poolWith(2, 20, v.poolMetrics(m))
			defer pool.Close(context.Background())
			em := emitter.New(emitter.Config{WorkerPool: pool, BufferSize: 4096, Metrics: m})
			defer em.Shutdown(context.Background())
			c := newCounter(b.N)
			em.Subscribe("bench.event", shared.NewBaseListener("bench", func(shared.Event) error { c.add(); return nil }))
			ev := shared.NewBaseEvent("id", "bench.event", nil)
			ctx := context.Background()
			var drops int
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := em.EmitAsync(ctx, ev); err != nil {
					drops++
					c.add()
				}
			}
			<-c.done
			b.StopTimer()
			b.ReportMetric(float64(drops)/float64(b.N), "drops/op")
		})
	}
}

// BenchmarkBusPublish: Publish to an AtLeastOnce topic of four partitions
// (64 ordering keys) with one no-op subscriber, until every event is
// handled; refused events count as drops/op.
func BenchmarkBusPublish(b *testing.B) {
	evs := make([]shared.Event, 64)
	for i := range evs {
		evs[i] = shared.NewBaseEventWithMetadata("e"+strconv.Itoa(i), "bench.event", nil, map[string]string{"key": strconv.Itoa(i)})
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			m := benchMetrics(b, v)
			pool := poolWith(4, 1024, v.poolMetrics(m))
			defer pool.Close(context.Background())
			bs := bus.New(bus.Config{WorkerPool: pool, Metrics: m})
			defer bs.Shutdown(context.Background())
			if err := bs.CreateTopic("bench", bus.TopicConfig{
				Partitions: 4, BufferSize: 1024, OrderingKey: func(e shared.Event) string { return e.Metadata()["key"] },
			}); err != nil {
				b.Fatal(err)
			}
			c := newCounter(b.N)
			bs.Subscribe("bench", shared.NewBaseListener("bench", func(shared.Event) error { c.add(); return nil }))
			ctx := context.Background()
			var drops int
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := bs.Publish(ctx, "bench", evs[i%len(evs)]); err != nil {
					drops++
					c.add()
				}
			}
			<-c.done
			b.StopTimer()
			b.ReportMetric(float64(drops)/float64(b.N), "drops/op")
		})
	}
}

// BenchmarkHooks is the cost of the hooks themselves, from one goroutine
// and from all of them at once.
func BenchmarkHooks(b *testing.B) {
	m, err := prom.New(prom.Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("EventEmitted", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			m.EventEmitted("emitter", "order.created", nil)
		}
	})
	b.Run("EventHandled", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			m.EventHandled("emitter", "audit", "order.created", time.Microsecond, nil)
		}
	})
	b.Run("EventEmitted/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.EventEmitted("emitter", "order.created", nil)
			}
		})
	})
}

var sinkDuration time.Duration

// BenchmarkClock is one time.Now and one time.Since, what a component pays
// to time an attempt once any Metrics is set: the "nop" variants above
// include it, and on a virtual machine's clock it is most of their cost.
func BenchmarkClock(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		start := time.Now()
		sinkDuration += time.Since(start)
	}
}
