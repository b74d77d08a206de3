package amqp_test

import (
	"context"
	"testing"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/bus/brokertest"
	"github.com/novaevents/nova/transport/amqp"
)

// newBroker returns a Broker on a client of its own, with names unique to
// the test; everything it declared is deleted when the test ends.
func newBroker(t testing.TB, cfg amqp.BrokerConfig) (*amqp.Broker, *amqp.Client) {
	t.Helper()
	requireBroker(t)
	client, err := amqp.Dial(testCtx(t, 10*time.Second), amqp.Config{
		URL: brokerURL(), Name: "nova-broker-test",
		Reconnect: amqp.Backoff{Initial: 20 * time.Millisecond, Max: 500 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = uniqueName(t)
	}
	b, err := client.NewBroker(cfg)
	if err != nil {
		t.Fatalf("NewBroker: %v", err)
	}
	t.Cleanup(func() {
		ctx := testCtx(t, 20*time.Second)
		if err := b.Close(ctx); err != nil {
			t.Errorf("broker Close: %v", err)
		}
		var exchanges []string
		for _, topic := range amqp.BrokerTopics(b) {
			exchanges = append(exchanges, b.Exchange(topic))
		}
		if err := client.Delete(ctx, nil, exchanges); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := client.Close(ctx); err != nil {
			t.Errorf("client Close: %v", err)
		}
	})
	return b, client
}

func TestBrokerConformance(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) bus.Broker {
		b, _ := newBroker(t, amqp.BrokerConfig{})
		return b
	})
}

var _ = context.Background
