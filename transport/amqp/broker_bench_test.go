package amqp_test

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

// End-to-end benchmarks of the bus on RabbitMQ against a raw amqp091
// pipeline of the same shape: 4 partitions (queues), one publishing
// goroutine with 256 confirms in flight, one consumer per queue with a
// prefetch of 256 and a manual acknowledgement per message, carrying the
// same message (the CloudEvent the bus sends, encoded once: the baseline
// does no encoding or decoding). An op is one event published and
// handled.
//
//	go test -run '^$' -bench 'Broker' -benchtime 20000x -count 6 ./transport/amqp/

const (
	e2ePartitions = 4
	e2eWindow     = 256
)

// e2e is one pipeline under test.
type e2e struct {
	publish func(i int) error // sends event i; may return before its confirm
	flush   func() error      // waits for every confirm
	lat     []time.Duration   // end-to-end latency per event, by handling order
	n       atomic.Int64      // events handled
	want    int64
	done    chan struct{}
	drops   func() uint64
}

func (p *e2e) handled(sent time.Time) {
	i := p.n.Add(1)
	if int(i) <= len(p.lat) {
		p.lat[i-1] = time.Since(sent)
	}
	if i == p.want {
		close(p.done)
	}
}

func (p *e2e) reset(n int) {
	p.lat = make([]time.Duration, n)
	p.n.Store(0)
	p.want = int64(n)
	p.done = make(chan struct{})
}

func (p *e2e) wait(b *testing.B) {
	b.Helper()
	if err := p.flush(); err != nil {
		b.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("handled %d of %d", p.n.Load(), p.want)
	}
}

// rawPipeline sets up the baseline: a direct exchange, 4 queues of kind,
// a confirm-mode channel, 4 consuming channels.
func rawPipeline(b *testing.B, quorum bool) *e2e {
	b.Helper()
	requireBroker(b)
	name := uniqueName(b)
	ch := rawChannel(b)
	if err := ch.ExchangeDeclare(name, "direct", true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	var queues []string
	for i := range e2ePartitions {
		q := name + "." + strconv.Itoa(i)
		args := amqp091.Table{}
		if quorum {
			args["x-queue-type"] = "quorum"
		}
		if _, err := ch.QueueDeclare(q, true, false, false, false, args); err != nil {
			b.Fatal(err)
		}
		if err := ch.QueueBind(q, strconv.Itoa(i), name, false, nil); err != nil {
			b.Fatal(err)
		}
		queues = append(queues, q)
	}
	cleanupBroker(b, queues, []string{name})
	p := &e2e{drops: func() uint64 { return 0 }}
	for _, q := range queues {
		cch := rawChannel(b)
		if err := cch.Qos(e2eWindow, 0, false); err != nil {
			b.Fatal(err)
		}
		ds, err := cch.Consume(q, "", false, false, false, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for d := range ds {
				sent := d.Timestamp
				if ns, ok := d.Headers["sent"].(int64); ok {
					sent = time.Unix(0, ns)
				}
				p.handled(sent)
				_ = d.Ack(false)
			}
		}()
	}
	pub := rawChannel(b)
	if err := pub.Confirm(false); err != nil {
		b.Fatal(err)
	}
	// The same message the bus sends: a CloudEvent encoded once, its ID
	// and sending time set per publish in one reused header table.
	sample, err := amqp.EventEncoding{Registry: testRegistry(b)}.Encode(
		shared.NewBaseEvent("e0", "order.placed", busOrder{Customer: "c1", N: 1}))
	if err != nil {
		b.Fatal(err)
	}
	headers := amqp091.Table{}
	for k, v := range sample.Headers {
		headers[k] = v
	}
	window := make([]*amqp091.DeferredConfirmation, 0, e2eWindow)
	var nacks uint64
	p.drops = func() uint64 { return nacks }
	p.publish = func(i int) error {
		if len(window) == e2eWindow {
			if !window[0].Wait() {
				nacks++
			}
			window = window[1:]
		}
		id := "e" + strconv.Itoa(i)
		now := time.Now()
		headers["cloudEvents:id"] = id
		headers["cloudEvents:time"] = now.UTC().Format(time.RFC3339Nano)
		headers["sent"] = now.UnixNano()
		dc, err := pub.PublishWithDeferredConfirm(name, strconv.Itoa(i%e2ePartitions), false, false, amqp091.Publishing{
			Headers: headers, ContentType: sample.ContentType, Type: sample.Type, Timestamp: now,
			DeliveryMode: amqp091.Persistent, MessageId: id, Body: sample.Body,
		})
		if err != nil {
			return err
		}
		window = append(window, dc)
		return nil
	}
	p.flush = func() error {
		for _, dc := range window {
			if !dc.Wait() {
				nacks++
			}
		}
		window = window[:0]
		return nil
	}
	return p
}

// busPipeline sets up the bus on the broker: a topic of 4 partitions,
// AtLeastOnce, one consumer group of one member.
func busPipeline(b *testing.B, quorum bool) *e2e {
	b.Helper()
	prefix := uniqueName(b)
	cleanupGroup(b, prefix, "bench", "g", e2ePartitions)
	bk, _ := newBroker(b, amqp.BrokerConfig{Prefix: prefix, ClassicQueues: !quorum, MaxInFlight: e2eWindow, Prefetch: e2eWindow,
		Events: amqp.EventEncoding{Registry: testRegistry(b)}})
	bs := bus.New(bus.Config{Broker: bk})
	b.Cleanup(func() {
		_ = bs.Shutdown(testCtx(b, 20*time.Second))
	})
	if err := bs.CreateTopic("bench", bus.TopicConfig{Partitions: e2ePartitions}); err != nil {
		b.Fatal(err)
	}
	p := &e2e{}
	if _, err := bs.SubscribeGroup("bench", "g", shared.NewBaseListener("g", func(e shared.Event) error {
		p.handled(e.Timestamp())
		return nil
	})); err != nil {
		b.Fatal(err)
	}
	ctx := testCtx(b, 30*time.Second)
	for len(amqp.HeldPartitions(bk, "bench", "g")) < e2ePartitions {
		select {
		case <-ctx.Done():
			b.Fatal("the group never took its partitions")
		case <-time.After(10 * time.Millisecond):
		}
	}
	var receipts []*bus.PublishReceipt
	p.publish = func(i int) error {
		r, err := bs.PublishAsync(context.Background(), "bench",
			shared.NewBaseEvent("e"+strconv.Itoa(i), "order.placed", busOrder{Customer: "c1", N: i}))
		receipts = append(receipts, r)
		return err
	}
	p.flush = func() error {
		for _, r := range receipts {
			if err := r.Wait(context.Background()); err != nil {
				return err
			}
		}
		receipts = receipts[:0]
		return nil
	}
	p.drops = func() uint64 {
		var n uint64
		for _, v := range bs.Stats().Dropped {
			n += v
		}
		return n
	}
	return p
}

func BenchmarkBrokerEndToEnd(b *testing.B) {
	for _, quorum := range []bool{false, true} {
		kind := map[bool]string{false: "classic", true: "quorum"}[quorum]
		for _, impl := range []string{"baseline=raw-amqp091", "nova-bus"} {
			b.Run("queues="+kind+"/"+impl, func(b *testing.B) {
				var p *e2e
				if impl == "nova-bus" {
					p = busPipeline(b, quorum)
				} else {
					p = rawPipeline(b, quorum)
				}
				p.reset(b.N)
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for i := range b.N {
					if err := p.publish(i); err != nil {
						b.Fatal(err)
					}
				}
				if err := p.flush(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "confirmed/s")
				p.wait(b)
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
				b.ReportMetric(float64(p.drops()), "drops")
			})
		}
	}
}

func BenchmarkBrokerLatencyAt5kPerSecond(b *testing.B) { latencyAt(b, 5) }

// BenchmarkBrokerLatencyAt1kPerSecond is the same well below the loaded
// machine's capacity: what the bus adds to a message's trip, without the
// queueing that a rate close to the capacity brings.
func BenchmarkBrokerLatencyAt1kPerSecond(b *testing.B) { latencyAt(b, 1) }

// latencyAt publishes perTick events every millisecond and reports the
// end-to-end latency percentiles.
func latencyAt(b *testing.B, perTick int) {
	const tick = time.Millisecond
	for _, quorum := range []bool{false, true} {
		kind := map[bool]string{false: "classic", true: "quorum"}[quorum]
		for _, impl := range []string{"baseline=raw-amqp091", "nova-bus"} {
			b.Run("queues="+kind+"/"+impl, func(b *testing.B) {
				var p *e2e
				if impl == "nova-bus" {
					p = busPipeline(b, quorum)
				} else {
					p = rawPipeline(b, quorum)
				}
				p.reset(1000) // warm up
				for i := range 1000 {
					if err := p.publish(i); err != nil {
						b.Fatal(err)
					}
				}
				p.wait(b)
				p.reset(b.N)
				ticker := time.NewTicker(tick)
				defer ticker.Stop()
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if i%perTick == 0 {
						<-ticker.C
					}
					if err := p.publish(1000 + i); err != nil {
						b.Fatal(err)
					}
				}
				p.wait(b)
				b.StopTimer()
				lat := slices.Clone(p.lat)
				slices.Sort(lat)
				q := func(f float64) float64 {
					return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))]) / float64(time.Millisecond)
				}
				b.ReportMetric(q(0.50), "p50-ms")
				b.ReportMetric(q(0.99), "p99-ms")
				b.ReportMetric(float64(p.drops()), "drops")
			})
		}
	}
}
