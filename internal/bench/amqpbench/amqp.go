package amqpbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"

	"time"

	"github.com/novaevents/nova/internal/bench/benchkit"

	"github.com/novaevents/nova/transport/amqp"
)

// AMQPPublish measures confirmed publishes to RabbitMQ through
// transport/amqp: each op is one 256-byte persistent message published and
// confirmed by the broker. The broker is NOVA_AMQP_URL (default
// amqp.DefaultURL); the benchmark skips when it is unreachable. It declares
// its own exchange and queue (bounded at 50,000 messages) under a random
// name and deletes them afterwards. It reports msgs/s and drops (publishes
// not confirmed).
func AMQPPublish(b benchkit.B) {
	url := os.Getenv("NOVA_AMQP_URL")
	if url == "" {
		url = amqp.DefaultURL
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "nova-bench-" + hex.EncodeToString(suffix)
	exchange, queue := name+".x", name+".q"

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	client, err := amqp.Dial(ctx, amqp.Config{
		URL:  url,
		Name: name,
		Topology: amqp.Topology{
			Exchanges: []amqp.Exchange{{Name: exchange, Kind: "direct"}},
			Queues:    []amqp.Queue{{Name: queue, MaxLength: 50_000}},
			Bindings:  []amqp.Binding{{Queue: queue, Exchange: exchange, Key: "bench"}},
		},
	})
	cancel()
	if err != nil {
		b.Skipf("RabbitMQ unreachable at %s (set NOVA_AMQP_URL, or start it with: rabbitmq-server -detached): %v", url, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = client.Delete(ctx, []string{queue}, []string{exchange})
		_ = client.Close(ctx)
	}()
	p, err := client.NewPublisher(amqp.PublisherConfig{})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 256)
	receipts := make([]*amqp.Receipt, 0, b.N())
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N() {
		r, err := p.PublishAsync(context.Background(), exchange, amqp.Message{RoutingKey: "bench", Body: body})
		if err != nil {
			b.Fatal(err)
		}
		receipts = append(receipts, r)
	}
	drops := 0
	for _, r := range receipts {
		if r.Wait(context.Background()) != nil {
			drops++
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(drops), "drops")
}
