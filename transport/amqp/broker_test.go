package amqp_test

import (
	"strconv"
	"strings"
	"sync"

	amqp091 "github.com/rabbitmq/amqp091-go"
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
	if cfg.Prefix == "" {
		cfg.Prefix = uniqueName(t)
	}
	client, err := amqp.Dial(testCtx(t, 10*time.Second), amqp.Config{
		URL: brokerURL(), Name: cfg.Prefix,
		Reconnect: amqp.ReconnectPolicy{InitialDelay: 20 * time.Millisecond, MaxDelay: 500 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
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
		deleteExchanges(t, exchanges)
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

// cleanupGroup deletes, when the test ends, the queues and the presence
// exchange of group on topic under prefix, through a connection of its
// own. Call it before starting the members: cleanups run last first, so it
// runs once they are all stopped (a running member would declare its
// queue again).
func cleanupGroup(t testing.TB, prefix, topic, group string, partitions int) {
	t.Helper()
	var queues []string
	for i := range partitions {
		queues = append(queues, prefix+"."+topic+".group."+group+"."+strconv.Itoa(i))
	}
	cleanupBroker(t, queues, []string{prefix + "." + topic + ".group." + group + ".presence"})
}

// deleteExchanges deletes exchanges through a connection of its own (the
// test's client may be closed).
func deleteExchanges(t testing.TB, exchanges []string) {
	conn, err := amqp091.Dial(brokerURL())
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	for _, x := range exchanges {
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		_ = ch.ExchangeDelete(x, false, false)
		_ = ch.Close()
	}
}

func TestBrokerDurableConformance(t *testing.T) {
	// The brokers of one subtest share a prefix: they are two processes
	// on one RabbitMQ.
	prefixes := map[string]string{}
	var mu sync.Mutex
	brokertest.RunDurable(t, func(t *testing.T) bus.Broker {
		mu.Lock()
		prefix, ok := prefixes[t.Name()]
		if !ok {
			prefix = uniqueName(t)
			prefixes[t.Name()] = prefix
		}
		mu.Unlock()
		if !ok {
			cleanupGroup(t, prefix, strings.ReplaceAll(t.Name(), "/", "."), "g", 1)
		}
		b, _ := newBroker(t, amqp.BrokerConfig{Prefix: prefix, Heartbeat: 50 * time.Millisecond, PeerTimeout: 500 * time.Millisecond})
		return b
	})
}

func TestBrokerStopsWithItsClient(t *testing.T) {
	requireBroker(t)
	client, err := amqp.Dial(testCtx(t, 10*time.Second), amqp.Config{URL: brokerURL()})
	if err != nil {
		t.Fatal(err)
	}
	prefix := uniqueName(t)
	b, err := client.NewBroker(amqp.BrokerConfig{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	cleanupBroker(t, []string{b.GroupQueue("t", "g", 0)}, []string{b.Exchange("t"), prefix + ".t.group.g.presence"})
	p, err := b.OpenPartition("t", 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Attach("group:g", nil); err != nil {
		t.Fatal(err)
	}
	// Closing the client without closing the broker first stops the
	// broker's goroutines too (goleak checks at the end of the package).
	if err := client.Close(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}
