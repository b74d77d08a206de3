package bus_test

import (
	"context"
	"testing"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
)

func TestDefaultTopicConfigIsTheZeroConfigSpelledOut(t *testing.T) {
	b := newBus(t, bus.Config{})
	if err := b.CreateTopic("orders", bus.DefaultTopicConfig()); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	mustSub := b.Subscribe("orders", shared.NewBaseListener("l", func(shared.Event) error { got <- struct{}{}; return nil }))
	if err := shared.SubscriptionErr(mustSub); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), "orders", shared.NewBaseEvent("e1", "order.created", nil)); err != nil {
		t.Fatal(err)
	}
	<-got
	if n := len(b.Stats().TopicStats["orders"].QueueDepth); n != bus.DefaultPartitions {
		t.Errorf("%d partitions, want %d", n, bus.DefaultPartitions)
	}
}
