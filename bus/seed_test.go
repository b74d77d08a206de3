package bus_test

import (
	"context"
	"log"
	"runtime"
	"testing"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// TestSeedSnippetsCompileAndRun runs the bus snippets of seeds 000 and 001
// as written there (placeholders filled in).
func TestSeedSnippetsCompileAndRun(t *testing.T) {
	ctx := context.Background()
	pool := workerpool.New(4, 1000)
	defer pool.Close(ctx)
	b := bus.New(bus.Config{WorkerPool: pool})

	// Seed 001: partition by customer for order consistency.
	if err := b.CreateTopic("orders", bus.TopicConfig{
		Partitions: 16,
		OrderingKey: func(e shared.Event) string {
			return e.Metadata()["customer_id"]
		},
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateTopic("rare-events", bus.TopicConfig{
		Partitions: 1, // One partition is fine for low volume
	}); err != nil {
		t.Fatal(err)
	}

	// Seed 000: per-partition buffers, concurrency and delivery modes.
	totalEventsPerSecond := 100000
	partitions := 16
	processingLatencyMs := 10
	safetyFactor := 3
	bufferPerPartition := (totalEventsPerSecond / partitions) *
		(processingLatencyMs / 1000) *
		safetyFactor // 0 in integer arithmetic: the default applies
	for _, c := range []struct {
		name string
		cfg  bus.TopicConfig
	}{
		{"high-volume", bus.TopicConfig{BufferSize: bufferPerPartition, Partitions: partitions}},
		{"orders-conc", bus.TopicConfig{Partitions: 8, MaxConcurrency: 10}},
		{"telemetry", bus.TopicConfig{DeliveryMode: bus.AtMostOnce}},
		{"notifications", bus.TopicConfig{DeliveryMode: bus.AtLeastOnce}},
		{"payments", bus.TopicConfig{DeliveryMode: bus.ExactlyOnce}},
		{"events", bus.TopicConfig{
			Partitions: runtime.NumCPU() * 2,
			OrderingKey: func(e shared.Event) string {
				return e.Metadata()["partition_key"]
			},
		}},
	} {
		if err := b.CreateTopic(c.name, c.cfg); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}

	done := make(chan shared.Event, 1)
	b.Subscribe("orders", shared.NewBaseListener("order-processor", func(e shared.Event) error {
		done <- e
		return nil
	}))
	event := shared.NewBaseEventWithMetadata("order-123", "order.created", nil,
		map[string]string{"customer_id": "cust-456", "source": "web"})
	if err := b.Publish(ctx, "orders", event); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-done:
		if e.ID() != "order-123" {
			t.Fatalf("got %s", e.ID())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the order was not delivered")
	}

	// Seed 001's shutdown order: the bus before the pool.
	shutdownSeed := func(ctx context.Context, bus *bus.Bus) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := bus.Shutdown(ctx); err != nil {
			log.Printf("Bus shutdown error: %v", err)
		}
		pool.Close(ctx)
		return nil
	}
	_ = shutdownSeed(ctx, b)
}
