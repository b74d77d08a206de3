package busbench

import (
	"context"
	"strconv"
	"sync"

	"github.com/novaevents/nova/internal/bench/benchkit"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// busKeys is how many distinct ordering keys the bus benchmarks cycle
// through, so that every partition gets traffic.
const busKeys = 64

func busEvents() []shared.Event {
	evs := make([]shared.Event, busKeys)
	for i := range evs {
		evs[i] = shared.NewBaseEventWithMetadata("id-"+strconv.Itoa(i), "bench.event", nil,
			map[string]string{"customer_id": "c-" + strconv.Itoa(i)})
	}
	return evs
}

func busCustomerKey(e shared.Event) string { return e.Metadata()["customer_id"] }

// BusPublish is BusEndToEnd with 4 partitions, AtLeastOnce: the bus row
// of the README's table. `nova bench` has a row for each of 1 and 4
// partitions in AtMostOnce and AtLeastOnce, made with BusEndToEnd.
func BusPublish(b benchkit.B) { BusEndToEnd(4, bus.AtLeastOnce)(b) }

// BusBaseline is BusPublish's baseline with 4 partitions.
func BusBaseline(b benchkit.B) { BusBaselineN(4)(b) }

// BusEndToEnd returns a benchmark that publishes b.N() events (one publisher
// goroutine, 64 customer keys) to a topic of the given partitions and
// mode, with one no-op subscriber, on a pool of one worker per partition,
// and stops the clock when the last event has been handled. Refused events
// are reported as drops/op.
func BusEndToEnd(partitions int, mode bus.DeliveryMode) benchkit.Body {
	return func(b benchkit.B) {
		pool := workerpool.New(max(2, partitions), 1024)
		defer pool.Close(context.Background())
		bs := bus.New(bus.Config{WorkerPool: pool})
		defer bs.Shutdown(context.Background())
		if err := bs.CreateTopic("bench", bus.TopicConfig{
			Partitions: partitions, BufferSize: 1024, DeliveryMode: mode, OrderingKey: busCustomerKey,
		}); err != nil {
			b.Fatal(err)
		}
		d := benchkit.NewDoneCounter(b.N())
		bs.Subscribe("bench", shared.NewBaseListener("bench", func(shared.Event) error { d.Add(); return nil }))
		evs := busEvents()
		ctx := context.Background()
		var drops int
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N() {
			if err := bs.Publish(ctx, "bench", evs[i%busKeys]); err != nil {
				drops++
				d.Add()
			}
		}
		<-d.Done
		b.StopTimer()
		b.ReportMetric(float64(drops)/float64(b.N()), "drops/op")
	}
}

// BusBaselineN is the least a partitioned bus can do: hash the ordering
// key (FNV-1a) to one of n buffered channels, each drained by its own
// goroutine that calls the listener; timed until every event is handled.
// It has no retries, no acknowledgements, no fan-out and no shutdown
// guarantees.
func BusBaselineN(n int) benchkit.Body {
	return func(b benchkit.B) {
		d := benchkit.NewDoneCounter(b.N())
		l := shared.NewBaseListener("bench", func(shared.Event) error { d.Add(); return nil })
		chans := make([]chan shared.Event, n)
		var wg sync.WaitGroup
		for i := range chans {
			chans[i] = make(chan shared.Event, 1024)
			wg.Add(1)
			go func(ch chan shared.Event) {
				defer wg.Done()
				for e := range ch {
					_ = l.Handle(context.Background(), e)
				}
			}(chans[i])
		}
		evs := busEvents()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N() {
			e := evs[i%busKeys]
			chans[busFNV1a(busCustomerKey(e))%uint32(n)] <- e
		}
		<-d.Done
		b.StopTimer()
		for _, ch := range chans {
			close(ch)
		}
		wg.Wait()
		b.ReportMetric(0, "drops/op")
	}
}

func busFNV1a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
