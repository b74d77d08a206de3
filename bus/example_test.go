package bus_test

import (
	"context"
	"fmt"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
)

func Example() {
	ctx := context.Background()
	b := bus.New(bus.Config{})

	_ = b.CreateTopic("orders", bus.TopicConfig{
		Partitions:  16,
		OrderingKey: func(e shared.Event) string { return e.Metadata()["customer_id"] },
	})
	b.Subscribe("orders", shared.NewBaseListener("billing", func(e shared.Event) error {
		fmt.Println("billing", e.ID())
		return nil
	}))
	for _, id := range []string{"order-1", "order-2", "order-3"} {
		e := shared.NewBaseEventWithMetadata(id, "order.created", nil, map[string]string{"customer_id": "c-7"})
		if err := b.Publish(ctx, "orders", e); err != nil {
			fmt.Println(err)
		}
	}
	_ = b.Shutdown(ctx) // delivers everything accepted first

	s := b.Stats()
	fmt.Println("published", s.Published, "processed", s.Processed)
	// Output:
	// billing order-1
	// billing order-2
	// billing order-3
	// published 3 processed 3
}

func ExampleBus_SubscribeGroup() {
	ctx := context.Background()
	b := bus.New(bus.Config{})
	_ = b.CreateTopic("jobs", bus.TopicConfig{Partitions: 4})
	handled := make(chan string, 10)
	for _, name := range []string{"worker-1", "worker-2"} {
		_, _ = b.SubscribeGroup("jobs", "resizers", shared.NewBaseListener(name, func(e shared.Event) error {
			handled <- e.ID()
			return nil
		}))
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		_ = b.Publish(ctx, "jobs", shared.NewBaseEvent(id, "image.uploaded", nil))
	}
	_ = b.Shutdown(ctx)
	close(handled)
	fmt.Println(len(handled), "jobs, each handled by one member")
	// Output: 4 jobs, each handled by one member
}
