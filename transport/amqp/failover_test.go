package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novaevents/nova/transport/amqp"
)

// TestFailoverToTheNextBrokerLosesNothingConfirmed puts two proxies in
// front of the broker, as two brokers, and cuts the first while messages
// are published and consumed: the client moves to the second, says so in
// its state changes, and every confirmed message is consumed.
func TestFailoverToTheNextBrokerLosesNothingConfirmed(t *testing.T) {
	requireBroker(t)
	first, firstURL := newProxy(t)
	second, secondURL := newProxy(t)
	states := make(chan amqp.StateChange, 1024)
	f := newFixture(t, withConfig(func(c *amqp.Config) {
		c.URL, c.URLs = firstURL, []string{secondURL}
		c.OnStateChange = func(sc amqp.StateChange) {
			select {
			case states <- sc:
			default:
			}
		}
	}))
	if sc := awaitState(t, states, amqp.StateConnected); !strings.Contains(sc.URL, first.Addr()) {
		t.Fatalf("first connection went to %q, want the first broker %s", sc.URL, first.Addr())
	}
	ctx := testCtx(t, 90*time.Second)

	const total = 2000
	var (
		mu       sync.Mutex
		consumed = map[int]bool{}
		all      = make(chan struct{})
	)
	k := f.consumer(t, amqp.ConsumerConfig{Prefetch: 100})
	if err := k.Start(ctx, amqp.HandlerFunc(func(_ context.Context, d *amqp.Delivery) (amqp.AckDecision, error) {
		n, err := strconv.Atoi(string(d.Body))
		if err != nil {
			return amqp.Reject, err
		}
		mu.Lock()
		consumed[n] = true
		if len(consumed) == total {
			close(all)
		}
		mu.Unlock()
		return amqp.Ack, nil
	})); err != nil {
		t.Fatal(err)
	}
	p := f.publisher(t, amqp.PublisherConfig{MaxInFlight: 64, PublishTimeout: 60 * time.Second})

	// Publishing runs on while the first broker is cut: the cut comes
	// once a quarter of the messages are confirmed, with more in flight.
	receipts := make(chan *amqp.Receipt, total)
	published := make(chan error, 1)
	go func() {
		defer close(receipts)
		for i := range total {
			r, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "n", Body: []byte(strconv.Itoa(i))})
			if err != nil {
				published <- fmt.Errorf("publish %d: %w", i, err)
				return
			}
			receipts <- r
		}
		published <- nil
	}()
	n := 0
	for r := range receipts {
		if err := r.Wait(ctx); err != nil {
			t.Fatalf("publish %d not confirmed: %v", n, err)
		}
		n++
		if n == total/4 {
			first.Cut()
		}
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	select {
	case <-all:
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("consumed %d of %d confirmed messages", len(consumed), total)
	}
	for {
		sc := awaitState(t, states, amqp.StateConnected)
		if strings.Contains(sc.URL, second.Addr()) {
			break
		}
	}
	if st := f.client.Stats(); st.Reconnects == 0 {
		t.Fatalf("client stats %+v: no connection was lost", st)
	}
	if st := k.Stats(); st.Sessions < 2 {
		t.Fatalf("consumer sessions %d: it never moved to the second broker", st.Sessions)
	}
}

func TestDialRefusesMalformedConfigAtOnce(t *testing.T) {
	for _, cfg := range []amqp.Config{
		{URL: "http://x"},
		{URL: "amqp://guest:guest@127.0.0.1:notaport/"},
		{URLs: []string{amqp.DefaultURL, "localhost:5672"}},
		{URLs: []string{""}},
		{MinConnections: 3, MaxConnections: 2},
	} {
		// No deadline: a config error must not be retried.
		_, err := amqp.Dial(context.Background(), cfg)
		if !errors.Is(err, amqp.ErrInvalidConfig) {
			t.Errorf("%+v: got %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestDialFailsAtOnceWhenTheBrokerRefusesTheVhost(t *testing.T) {
	requireBroker(t)
	u := strings.TrimSuffix(brokerURL(), "/") + "/nova-no-such-vhost"
	began := time.Now()
	_, err := amqp.Dial(context.Background(), amqp.Config{URL: u})
	if err == nil || time.Since(began) > 10*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(began))
	}
}
