package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

func TestTheZeroBusSaysItIsNotInitialized(t *testing.T) {
	var b bus.Bus
	ctx := context.Background()
	ev := shared.NewBaseEvent("e1", "order.created", nil)
	l := shared.NewBaseListener("l", func(shared.Event) error { return nil })
	done := make(chan struct{})
	go func() {
		defer close(done)
		check := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, bus.ErrNotInitialized) {
				t.Errorf("%s = %v, want ErrNotInitialized", what, err)
			}
		}
		check("CreateTopic", b.CreateTopic("orders", bus.TopicConfig{}))
		check("DeleteTopic", b.DeleteTopic("orders"))
		check("Publish", b.Publish(ctx, "orders", ev))
		_, err := b.PublishAsync(ctx, "orders", ev)
		check("PublishAsync", err)
		_, err = b.SubscribeE("orders", l)
		check("SubscribeE", err)
		_, err = b.SubscribePattern("orders.*", l)
		check("SubscribePattern", err)
		_, err = b.SubscribeGroup("orders", "g", l)
		check("SubscribeGroup", err)
		check("Subscribe(...).Err", shared.SubscriptionErr(b.Subscribe("orders", l)))
		check("Shutdown", b.Shutdown(ctx))
		if b.Topics() != nil || b.Listeners() != nil {
			t.Error("Topics or Listeners of the zero Bus are not nil")
		}
		if s := b.Stats(); s.Published != 0 || s.Subscribers != 0 {
			t.Errorf("Stats = %+v, want zero", s)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a method of the zero Bus did not return")
	}
}

func TestNonsenseTopicConfigIsRefused(t *testing.T) {
	b := newBus(t, bus.Config{})
	for field, cfg := range map[string]bus.TopicConfig{
		"BufferSize":           {BufferSize: -1},
		"Partitions":           {Partitions: -1},
		"MaxConcurrency":       {MaxConcurrency: -1},
		"HandlerTimeout":       {HandlerTimeout: -time.Second},
		"Retention":            {Retention: -time.Second},
		"DeadLetter.QueueSize": {DeadLetter: listener.DeadLetterConfig{QueueSize: -1}},
	} {
		err := b.CreateTopic("t", cfg)
		var ce *bus.ConfigError
		if !errors.As(err, &ce) || ce.Field != field || ce.Component != "bus" || !errors.Is(err, bus.ErrInvalidConfig) {
			t.Errorf("%s: CreateTopic = %v, want a *ConfigError for it", field, err)
		}
	}
}

func TestAFailedSubscribeSaysWhyAtOnce(t *testing.T) {
	b := newBus(t, bus.Config{})
	sub := b.Subscribe("missing", nil)
	if sub.Active() {
		t.Fatal("active")
	}
	if err := shared.SubscriptionErr(sub); !errors.Is(err, bus.ErrInvalidSubscription) {
		t.Fatalf("Err = %v, want ErrInvalidSubscription", err)
	}
	if err := sub.Unsubscribe(); !errors.Is(err, bus.ErrInvalidSubscription) {
		t.Fatalf("Unsubscribe = %v, want the same error", err)
	}
	ok := b.Subscribe("missing", shared.NewBaseListener("l", func(shared.Event) error { return nil }))
	if err := shared.SubscriptionErr(ok); err == nil {
		t.Fatal("subscribing to an unknown topic without AutoCreateTopics reported no error")
	}
}
