package amqp_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

type Order struct {
	ID    string  `json:"id"`
	Total float64 `json:"total"`
}

// Example sends events through RabbitMQ and consumes them back: the flow of
// `nova demo --amqp URL`. It needs a broker, so it has no Output section.
func Example() {
	ctx := context.Background()
	reg := codec.NewRegistry()
	_ = codec.Register[Order](reg, "demo.order") // consumers get Order back, not a map
	enc := amqp.EventEncoding{Registry: reg, Source: "nova-demo"}
	name := "nova-demo-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	exchange, queue := name+".orders", name+".audit"

	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client, err := amqp.Dial(dialCtx, amqp.Config{
		URL:  "amqp://guest:guest@127.0.0.1:5672/",
		Name: name,
		Topology: amqp.Topology{
			Exchanges: []amqp.Exchange{{Name: exchange}}, // topic exchange
			Queues:    []amqp.Queue{{Name: queue}},
			Bindings:  []amqp.Binding{{Queue: queue, Exchange: exchange, Key: "order.#"}},
		},
	})
	if err != nil {
		fmt.Println("RabbitMQ unreachable:", err)
		return
	}
	defer client.Close(ctx)

	const orders = 24
	var received atomic.Int32
	all := make(chan struct{})
	consumer, _ := client.NewConsumer(amqp.ConsumerConfig{Queue: queue, Events: enc, Retry: amqp.RetryPolicy{MaxAttempts: 3, InitialDelay: 100 * time.Millisecond}})
	err = consumer.StartEvents(ctx, shared.NewBaseListener("audit", func(e shared.Event) error {
		_ = e.Data().(Order)
		if received.Add(1) == orders {
			close(all)
		}
		return nil
	}))
	if err != nil {
		fmt.Println(err)
		return
	}

	publisher, _ := client.NewPublisher(amqp.PublisherConfig{Events: enc, Mandatory: true})
	receipts := make([]*amqp.Receipt, 0, orders)
	for i := range orders {
		o := Order{ID: fmt.Sprintf("o-%03d", i+1), Total: float64(10 + 3*i)}
		e := shared.NewBaseEventWithMetadata(o.ID, "order.created", o, map[string]string{"customer_id": "c-1"})
		r, err := publisher.PublishEventAsync(ctx, exchange, e) // routing key: the event type
		if err != nil {
			fmt.Println(err)
			return
		}
		receipts = append(receipts, r)
	}
	if err := amqp.WaitAll(ctx, receipts...); err != nil {
		fmt.Println("not confirmed:", err)
	}
	<-all // every event came back through the broker
	_ = consumer.Stop(ctx)

	ps, cs := publisher.Stats(), consumer.Stats()
	fmt.Printf("published %d (p99 confirm ≤ %v), consumed %d\n", ps.Confirmed, ps.ConfirmLatency.Quantile(0.99), cs.Acked)

	// Clean up: the demo's queues (the consumer's retry and dead-letter
	// queues included) and its exchange.
	queues := []string{queue}
	for _, q := range consumer.Topology().Queues {
		queues = append(queues, q.Name)
	}
	_ = client.Delete(ctx, queues, []string{exchange})
}

// ExampleNewMessage builds a message with seed 003's options. Compression
// is per message here; PublisherConfig.CompressAbove sets a size threshold
// for all of them.
func ExampleNewMessage() {
	m := amqp.NewMessage([]byte(`{"id":"o-1"}`),
		amqp.WithID("o-1"),
		amqp.WithContentType("application/json"),
		amqp.WithCompression(true),
		amqp.WithPriority(5),
	)
	fmt.Println(m.MessageID, m.ContentType, m.Compression, m.Priority)
	// Output: o-1 application/json always 5
}

// ExampleConsumer_StartBatch writes deliveries in batches of up to 500, or
// whatever arrived within 200ms of a batch's first delivery; a failed row
// is retried on its own.
func ExampleConsumer_StartBatch() {
	ctx := context.Background()
	client, err := amqp.Dial(ctx, amqp.Config{
		URL:  "amqp://guest:guest@127.0.0.1:5672/",
		URLs: []string{"amqp://guest:guest@127.0.0.1:5673/"}, // a fallback broker
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close(ctx)
	k, err := client.NewConsumer(amqp.ConsumerConfig{Queue: "audit", BatchSize: 500, BatchTimeout: 200 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	insertRow := func(body []byte) error { return nil } // your database write
	_ = k.StartBatch(ctx, amqp.BatchHandlerFunc(func(ctx context.Context, batch []*amqp.Delivery) error {
		failed := map[int]error{}
		for i, d := range batch {
			if err := insertRow(d.Body); err != nil {
				failed[i] = err
			}
		}
		if len(failed) > 0 {
			return &amqp.BatchError{Failed: failed}
		}
		return nil
	}))
}
