package amqp_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/novaevents/nova/internal/brokerlock"
	"github.com/novaevents/nova/transport/amqp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const startHint = "start RabbitMQ with: rabbitmq-server -detached"

func brokerURL() string {
	if u := os.Getenv("NOVA_AMQP_URL"); u != "" {
		return u
	}
	return amqp.DefaultURL
}

var (
	probeOnce sync.Once
	probeErr  error
)

// heldExclusively is set while a test of this process holds the broker lock
// exclusively: the shared lock would then wait for it forever (flock locks
// of one process conflict when taken through different files).
var heldExclusively atomic.Bool

// holdBrokerExclusively takes the broker lock exclusively for a test that
// disturbs the broker. Call it before anything that calls requireBroker.
func holdBrokerExclusively(t *testing.T) {
	t.Helper()
	brokerlock.Exclusive(t)
	heldExclusively.Store(true)
	t.Cleanup(func() { heldExclusively.Store(false) })
}

// requireBroker skips the test when RabbitMQ is unreachable, or fails it
// under NOVA_REQUIRE_SERVICES=1. Otherwise it holds the broker lock shared
// until the test ends, so that no other package's test disturbs the broker
// meanwhile.
func requireBroker(t testing.TB) {
	t.Helper()
	probeOnce.Do(func() {
		c, err := amqp091.DialConfig(brokerURL(), amqp091.Config{Dial: amqp091.DefaultDial(3 * time.Second)})
		if err == nil {
			_ = c.Close()
		}
		probeErr = err
	})
	if probeErr == nil {
		if !heldExclusively.Load() {
			brokerlock.Shared(t)
		}
		return
	}
	if os.Getenv("NOVA_REQUIRE_SERVICES") == "1" {
		t.Fatalf("RabbitMQ unreachable at %s: %v (%s)", brokerURL(), probeErr, startHint)
	}
	t.Skipf("RabbitMQ unreachable at %s: %v; %s", brokerURL(), probeErr, startHint)
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// uniqueName is a broker-wide unique prefix for one test's exchanges and
// queues: other packages and CI runs share the broker.
func uniqueName(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := strings.ToLower(unsafeName.ReplaceAllString(t.Name(), "-"))
	if len(name) > 60 {
		name = name[:60]
	}
	return "nova-test-" + name + "-" + hex.EncodeToString(b)
}

// testCtx is bounded so a hung broker fails the test instead of the run.
func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// rawChannel opens an amqp091 channel outside the package under test, to
// inspect and clean the broker.
func rawChannel(t testing.TB) *amqp091.Channel {
	t.Helper()
	requireBroker(t)
	conn, err := amqp091.Dial(brokerURL())
	if err != nil {
		t.Fatalf("raw dial: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("raw channel: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return ch
}

// cleanupBroker deletes everything whose name starts with prefix that the
// test declared, through a fresh connection (the test's may be broken).
func cleanupBroker(t testing.TB, queues, exchanges []string) {
	t.Helper()
	t.Cleanup(func() {
		conn, err := amqp091.Dial(brokerURL())
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		for _, q := range queues {
			ch, err := conn.Channel()
			if err != nil {
				return
			}
			_, _ = ch.QueueDelete(q, false, false, false)
			_ = ch.Close()
		}
		for _, e := range exchanges {
			ch, err := conn.Channel()
			if err != nil {
				return
			}
			_ = ch.ExchangeDelete(e, false, false)
			_ = ch.Close()
		}
	})
}

// fixture is one test's isolated topology: an exchange, a queue bound to it
// with "#", and the consumer's retry and dead-letter queues once used.
type fixture struct {
	name     string
	exchange string
	queue    string
	client   *amqp.Client
}

func (f *fixture) dlq() string { return f.queue + ".dlq" }

type fixtureOpt func(*amqp.Config, *amqp.Queue)

func newFixture(t testing.TB, opts ...fixtureOpt) *fixture {
	t.Helper()
	requireBroker(t)
	name := uniqueName(t)
	f := &fixture{name: name, exchange: name + ".x", queue: name + ".q"}
	q := amqp.Queue{Name: f.queue}
	cfg := amqp.Config{URL: brokerURL(), Name: name, Reconnect: amqp.ReconnectPolicy{InitialDelay: 20 * time.Millisecond, MaxDelay: 500 * time.Millisecond}}
	for _, o := range opts {
		o(&cfg, &q)
	}
	cfg.Topology.Exchanges = append(cfg.Topology.Exchanges, amqp.Exchange{Name: f.exchange})
	cfg.Topology.Queues = append(cfg.Topology.Queues, q)
	cfg.Topology.Bindings = append(cfg.Topology.Bindings, amqp.Binding{Queue: f.queue, Exchange: f.exchange, Key: "#"})
	cleanupBroker(t, []string{f.queue}, []string{f.exchange})
	client, err := amqp.Dial(testCtx(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		if err := client.Close(testCtx(t, 20*time.Second)); err != nil {
			t.Errorf("client Close: %v", err)
		}
	})
	f.client = client
	return f
}

func withQueue(fn func(*amqp.Queue)) fixtureOpt {
	return func(_ *amqp.Config, q *amqp.Queue) { fn(q) }
}

func withConfig(fn func(*amqp.Config)) fixtureOpt {
	return func(c *amqp.Config, _ *amqp.Queue) { fn(c) }
}

func (f *fixture) publisher(t testing.TB, cfg amqp.PublisherConfig) *amqp.Publisher {
	t.Helper()
	p, err := f.client.NewPublisher(cfg)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(func() { _ = p.Close(testCtx(t, 10*time.Second)) })
	return p
}

func (f *fixture) consumer(t testing.TB, cfg amqp.ConsumerConfig) *amqp.Consumer {
	t.Helper()
	if cfg.Queue == "" {
		cfg.Queue = f.queue
	}
	k, err := f.client.NewConsumer(cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	var queues []string
	for _, q := range k.Topology().Queues {
		queues = append(queues, q.Name)
	}
	cleanupBroker(t, queues, nil)
	t.Cleanup(func() { _ = k.Stop(testCtx(t, 10*time.Second)) })
	return k
}

// queueDepth returns the number of ready messages in queue.
func queueDepth(t testing.TB, queue string) int {
	t.Helper()
	ch := rawChannel(t)
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		t.Fatalf("inspect %s: %v", queue, err)
	}
	return q.Messages
}

// getOne takes one message from queue, waiting up to d for it. It
// acknowledges only that message: the others stay in the queue.
//
// A consumer declares its dead-letter queue ("<queue>.dlq") when it first
// dead-letters: getOne declares it too, as a user watching the dead letters
// would, so that it can wait for the first one.
func getOne(t testing.TB, queue string, d time.Duration) amqp091.Delivery {
	t.Helper()
	ch := rawChannel(t)
	if strings.HasSuffix(queue, ".dlq") {
		if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
			t.Fatalf("declare %s: %v", queue, err)
		}
	}
	if err := ch.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatalf("consume %s: %v", queue, err)
	}
	defer ch.Close()
	select {
	case m := <-deliveries:
		if err := m.Ack(false); err != nil {
			t.Fatal(err)
		}
		return m
	case <-time.After(d):
		t.Fatalf("no message on %s within %v", queue, d)
	}
	return amqp091.Delivery{}
}
