// Orders: a bus topic partitioned by customer. Each customer's orders reach
// every subscriber in the order they were placed, while different customers
// are handled in parallel; a consumer group shares the fulfilment work.
package main

import (
	"context"
	"fmt"
	"log"
	"sync"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

func main() {
	ctx := context.Background()
	pool := workerpool.New(0, 0) // sized for this machine
	b := bus.New(bus.Config{WorkerPool: pool})
	err := b.CreateTopic("orders", bus.TopicConfig{
		Partitions:     8,
		MaxConcurrency: 4,
		OrderingKey:    func(e shared.Event) string { return e.Metadata()["customer_id"] },
	})
	if err != nil {
		log.Fatal(err)
	}

	var mu sync.Mutex
	perCustomer := map[string][]string{}
	b.Subscribe("orders", shared.NewBaseListener("billing", func(e shared.Event) error {
		mu.Lock()
		defer mu.Unlock()
		c := e.Metadata()["customer_id"]
		perCustomer[c] = append(perCustomer[c], e.ID())
		return nil
	}))
	handledBy := map[string]int{}
	for _, member := range []string{"picker-1", "picker-2"} {
		if _, err := b.SubscribeGroup("orders", "fulfilment", shared.NewBaseListener(member, func(shared.Event) error {
			mu.Lock()
			handledBy[member]++
			mu.Unlock()
			return nil
		})); err != nil {
			log.Fatal(err)
		}
	}

	for i := range 30 {
		c := fmt.Sprintf("c-%d", i%3)
		e := shared.NewBaseEventWithMetadata(fmt.Sprintf("o-%02d", i), "order.placed", nil, map[string]string{"customer_id": c})
		if err := b.Publish(ctx, "orders", e); err != nil {
			log.Fatal(err)
		}
	}
	if err := b.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	_ = pool.Close(ctx)
	for _, c := range []string{"c-0", "c-1", "c-2"} {
		fmt.Println(c, perCustomer[c])
	}
	fmt.Println("fulfilment:", handledBy)
}
