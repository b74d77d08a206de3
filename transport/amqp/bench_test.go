package amqp_test

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/transport/amqp"
)

// Benchmarks run against the broker at NOVA_AMQP_URL. Each publishes
// 256-byte persistent messages to a durable queue bounded at 50,000
// messages (the oldest are dropped, so the broker's memory stays flat), and
// compares the package with a plain amqp091-go loop that pipelines
// confirms over one channel: the simplest correct fast publisher.
//
//	go test -run '^$' -bench . -benchtime 2s -count 6 ./transport/amqp/

const (
	benchBody   = 256
	benchWindow = 256 // raw loop's confirm window = the publisher's MaxInFlight
)

func benchFixture(b *testing.B) *fixture {
	b.Helper()
	return newFixture(b, withQueue(func(q *amqp.Queue) { q.MaxLength = 50_000 }))
}

func rawConfirmChannel(b *testing.B) *amqp091.Channel {
	b.Helper()
	ch := rawChannel(b)
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	return ch
}

// BenchmarkConfirmedPublish measures confirmed publishes per second: the
// op is one message published and confirmed by the broker.
func BenchmarkConfirmedPublish(b *testing.B) {
	body := make([]byte, benchBody)
	b.Run("baseline=raw-amqp091-pipelined", func(b *testing.B) {
		f := benchFixture(b)
		ch := rawConfirmChannel(b)
		ctx := context.Background()
		window := make([]*amqp091.DeferredConfirmation, 0, benchWindow)
		var nacks int
		b.ReportAllocs()
		b.ResetTimer()
		start, cpu := time.Now(), newCPUMeter()
		for range b.N {
			if len(window) == benchWindow {
				if !window[0].Wait() {
					nacks++
				}
				window = window[1:]
			}
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, f.exchange, "bench", false, false,
				amqp091.Publishing{Body: body, DeliveryMode: amqp091.Persistent})
			if err != nil {
				b.Fatal(err)
			}
			window = append(window, dc)
		}
		for _, dc := range window {
			if !dc.Wait() {
				nacks++
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		cpu.report(b)
		b.ReportMetric(float64(nacks), "drops")
	})
	for _, workers := range []int{1, 2, 4} {
		b.Run("nova/workers="+strconv.Itoa(workers), func(b *testing.B) {
			f := benchFixture(b)
			p := f.publisher(b, amqp.PublisherConfig{WorkerCount: workers, MaxInFlight: benchWindow})
			ctx := context.Background()
			receipts := make([]*amqp.Receipt, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu := time.Now(), newCPUMeter()
			for range b.N {
				r, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "bench", Body: body})
				if err != nil {
					b.Fatal(err)
				}
				receipts = append(receipts, r)
			}
			var drops int
			for _, r := range receipts {
				if r.Wait(ctx) != nil {
					drops++
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			cpu.report(b)
			b.ReportMetric(float64(drops), "drops")
		})
	}
}

// BenchmarkConfirmLatencyAt5kPerSecond publishes at a fixed 5,000 messages
// a second and reports the confirm latency percentiles, from the publish
// call to the moment the caller sees the confirm.
func BenchmarkConfirmLatencyAt5kPerSecond(b *testing.B) {
	body := make([]byte, benchBody)
	const perTick, tick = 5, time.Millisecond // 5,000 msg/s
	type sent struct {
		at   time.Time
		wait func() bool
	}
	run := func(b *testing.B, publish func() (func() bool, error)) {
		// Warm the channel and the fresh queue up before measuring.
		for range 1000 {
			wait, err := publish()
			if err != nil {
				b.Fatal(err)
			}
			wait()
		}
		inflight := make(chan sent, 100_000)
		latencies := make([]time.Duration, 0, b.N)
		var drops int
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // waits in publish order: receipts resolve in that order
			defer wg.Done()
			for s := range inflight {
				if !s.wait() {
					drops++
				}
				latencies = append(latencies, time.Since(s.at))
			}
		}()
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if i%perTick == 0 {
				<-ticker.C
			}
			at := time.Now()
			wait, err := publish()
			if err != nil {
				b.Fatal(err)
			}
			inflight <- sent{at, wait}
		}
		close(inflight)
		wg.Wait()
		b.StopTimer()
		slices.Sort(latencies)
		q := func(p float64) float64 {
			return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]) / float64(time.Millisecond)
		}
		b.ReportMetric(q(0.50), "p50-ms")
		b.ReportMetric(q(0.95), "p95-ms")
		b.ReportMetric(q(0.99), "p99-ms")
		b.ReportMetric(float64(drops), "drops")
	}
	b.Run("baseline=raw-amqp091-pipelined", func(b *testing.B) {
		f := benchFixture(b)
		ch := rawConfirmChannel(b)
		run(b, func() (func() bool, error) {
			dc, err := ch.PublishWithDeferredConfirm(f.exchange, "bench", false, false,
				amqp091.Publishing{Body: body, DeliveryMode: amqp091.Persistent})
			if err != nil {
				return nil, err
			}
			return dc.Wait, nil
		})
	})
	b.Run("nova", func(b *testing.B) {
		f := benchFixture(b)
		p := f.publisher(b, amqp.PublisherConfig{})
		ctx := context.Background()
		run(b, func() (func() bool, error) {
			r, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "bench", Body: body})
			if err != nil {
				return nil, err
			}
			return func() bool { return r.Wait(ctx) == nil }, nil
		})
	})
}

// BenchmarkConsume measures messages consumed and acknowledged per second
// from a queue filled beforehand (outside the timer).
func BenchmarkConsume(b *testing.B) {
	fill := func(b *testing.B, f *fixture) {
		b.Helper()
		ch := rawConfirmChannel(b)
		body := make([]byte, benchBody)
		var last *amqp091.DeferredConfirmation
		for range b.N {
			dc, err := ch.PublishWithDeferredConfirm(f.exchange, "bench", false, false, amqp091.Publishing{Body: body, DeliveryMode: amqp091.Persistent})
			if err != nil {
				b.Fatal(err)
			}
			last = dc
		}
		if last != nil {
			last.Wait()
		}
	}
	benchQueue := func(b *testing.B) *fixture {
		return newFixture(b, withQueue(func(q *amqp.Queue) { q.MaxLength = 0 }))
	}
	b.Run("baseline=raw-amqp091", func(b *testing.B) {
		f := benchQueue(b)
		fill(b, f)
		ch := rawChannel(b)
		if err := ch.Qos(256, 0, false); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start, cpu := time.Now(), newCPUMeter()
		deliveries, err := ch.Consume(f.queue, "", false, false, false, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range b.N {
			d := <-deliveries
			if err := d.Ack(false); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		cpu.report(b)
	})
	for _, handlers := range []int{1, 8} {
		b.Run("nova/handlers="+strconv.Itoa(handlers), func(b *testing.B) {
			f := benchQueue(b)
			fill(b, f)
			var handled atomic.Int64
			all := make(chan struct{})
			n := int64(b.N)
			k := f.consumer(b, amqp.ConsumerConfig{Prefetch: 256, MaxConcurrentHandlers: handlers})
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu := time.Now(), newCPUMeter()
			if err := k.Start(context.Background(), amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
				if handled.Add(1) == n {
					close(all)
				}
				return amqp.Ack, nil
			})); err != nil {
				b.Fatal(err)
			}
			<-all
			if err := k.Stop(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			cpu.report(b)
			b.ReportMetric(float64(k.Stats().Failed), "drops")
		})
	}
	b.Run("nova/batch=100", func(b *testing.B) {
		f := benchQueue(b)
		fill(b, f)
		var handled atomic.Int64
		all := make(chan struct{})
		n := int64(b.N)
		k := f.consumer(b, amqp.ConsumerConfig{Prefetch: 256, MaxConcurrentHandlers: 2, BatchSize: 100, BatchTimeout: 10 * time.Millisecond})
		b.ReportAllocs()
		b.ResetTimer()
		start, cpu := time.Now(), newCPUMeter()
		if err := k.StartBatch(context.Background(), amqp.BatchHandlerFunc(func(_ context.Context, batch []*amqp.Delivery) error {
			if handled.Add(int64(len(batch))) == n {
				close(all)
			}
			return nil
		})); err != nil {
			b.Fatal(err)
		}
		<-all
		if err := k.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		cpu.report(b)
		b.ReportMetric(float64(k.Stats().Failed), "drops")
	})
}

// BenchmarkMemoryPer10kInFlight reports the heap growth while 10,000
// publishes are outstanding (accepted, not yet confirmed). It is an upper
// bound: garbage made meanwhile is counted too. An iteration during which a
// collection left the heap smaller than it started counts no growth.
func BenchmarkMemoryPer10kInFlight(b *testing.B) {
	f := benchFixture(b)
	p := f.publisher(b, amqp.PublisherConfig{WorkerCount: 2, MaxInFlight: 5000, QueueSize: 10_000})
	ctx := context.Background()
	body := make([]byte, benchBody)
	var total uint64
	var outstanding int
	receipts := make([]*amqp.Receipt, 10_000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range receipts {
			r, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "bench", Body: body})
			if err != nil {
				b.Fatal(err)
			}
			receipts[i] = r
		}
		runtime.ReadMemStats(&after)
		outstanding += p.Stats().Outstanding
		// HeapAlloc is unsigned and a GC during the loop can shrink the
		// heap below where it started: count growth only.
		if after.HeapAlloc > before.HeapAlloc {
			total += after.HeapAlloc - before.HeapAlloc
		}
		if err := amqp.WaitAll(ctx, receipts...); err != nil {
			b.Fatal(err)
		}
		clear(receipts)
	}
	b.ReportMetric(float64(total)/float64(b.N)/(1<<20), "MB/10k-outstanding")
	b.ReportMetric(float64(outstanding)/float64(b.N), "outstanding-at-peak")
}
