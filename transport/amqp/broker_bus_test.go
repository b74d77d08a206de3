package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

type busOrder struct {
	Customer string `json:"customer"`
	N        int    `json:"n"`
}

func testRegistry(t testing.TB) *codec.Registry {
	t.Helper()
	r := codec.NewRegistry()
	if err := codec.Register[busOrder](r, "order.placed"); err != nil {
		t.Fatal(err)
	}
	return r
}

// process is one simulated process: a client, a broker and a bus.
type process struct {
	broker  *amqp.Broker
	client  *amqp.Client
	bus     *bus.Bus
	crashed atomic.Bool // its client was closed under it: Shutdown cannot drain
}

func newProcess(t *testing.T, prefix string, topics map[string]bus.TopicConfig) *process {
	t.Helper()
	b, c := newBroker(t, amqp.BrokerConfig{Prefix: prefix, Events: amqp.EventEncoding{Registry: testRegistry(t)},
		Heartbeat: 100 * time.Millisecond, PeerTimeout: time.Second})
	bs := bus.New(bus.Config{Broker: b})
	p := &process{broker: b, client: c, bus: bs}
	t.Cleanup(func() {
		if p.crashed.Load() {
			_ = bs.Shutdown(testCtx(t, 100*time.Millisecond))
			return
		}
		if err := bs.Shutdown(testCtx(t, 20*time.Second)); err != nil {
			t.Errorf("bus Shutdown: %v", err)
		}
	})
	for name, cfg := range topics {
		if err := bs.CreateTopic(name, cfg); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func keyOf(e shared.Event) string { return e.Metadata()["customer"] }

func placed(i, keys int) shared.Event {
	cust := fmt.Sprintf("c%d", i%keys)
	return shared.NewBaseEventWithMetadata(fmt.Sprintf("e%d", i), "order.placed",
		busOrder{Customer: cust, N: i}, map[string]string{"customer": cust})
}

// recorder checks per-key order and counts handlings.
type recorder struct {
	mu      sync.Mutex
	last    map[string]int
	seen    map[string]int
	errs    []string
	total   atomic.Int64
	handled chan struct{}
}

func newRecorder() *recorder {
	return &recorder{last: map[string]int{}, seen: map[string]int{}, handled: make(chan struct{}, 1<<16)}
}

func (r *recorder) listener(id string) shared.Listener {
	return shared.NewBaseListener(id, func(e shared.Event) error {
		op, ok := e.Data().(busOrder)
		r.mu.Lock()
		if !ok {
			r.errs = append(r.errs, fmt.Sprintf("%s: payload %T, want busOrder", e.ID(), e.Data()))
		} else {
			if prev, ok := r.last[op.Customer]; ok && op.N <= prev && r.seen[e.ID()] == 0 {
				r.errs = append(r.errs, fmt.Sprintf("key %s: %d after %d", op.Customer, op.N, prev))
			}
			r.last[op.Customer] = op.N
		}
		r.seen[e.ID()]++
		r.mu.Unlock()
		r.total.Add(1)
		r.handled <- struct{}{}
		return nil
	})
}

func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for range n {
		select {
		case <-r.handled:
		case <-deadline:
			t.Fatalf("handled %d of %d", r.total.Load(), n)
		}
	}
}

func (r *recorder) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs[:min(len(r.errs), 10)] {
		t.Error(e)
	}
}

func TestBrokerBusAcrossProcesses(t *testing.T) {
	prefix := uniqueName(t)
	topics := map[string]bus.TopicConfig{"orders": {Partitions: 4, OrderingKey: keyOf}}
	cleanupGroup(t, prefix, "orders", "billing", 4)
	a := newProcess(t, prefix, topics)
	b := newProcess(t, prefix, topics)

	subA, subB, group := newRecorder(), newRecorder(), newRecorder()
	mustSub(t)(a.bus.SubscribeE("orders", subA.listener("a")))
	mustSub(t)(b.bus.SubscribeE("orders", subB.listener("b")))
	mustSub(t)(a.bus.SubscribeGroup("orders", "billing", group.listener("billing")))
	mustSub(t)(b.bus.SubscribeGroup("orders", "billing", group.listener("billing")))

	const n = 400
	for i := range n {
		if err := a.bus.Publish(context.Background(), "orders", placed(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	subA.wait(t, n)
	subB.wait(t, n)
	group.wait(t, n)
	for _, r := range []*recorder{subA, subB, group} {
		r.check(t)
	}
	if got := subA.total.Load(); got != n {
		t.Errorf("process A's subscriber handled %d, want %d", got, n)
	}
	if got := group.total.Load(); got != n {
		t.Errorf("the group handled %d, want %d (no failures, no duplicates)", got, n)
	}
}

func mustSub(t *testing.T) func(shared.Subscription, error) shared.Subscription {
	return func(s shared.Subscription, err error) shared.Subscription {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestBrokerGroupKeepsEventsWhileNoMemberRuns(t *testing.T) {
	prefix := uniqueName(t)
	topics := map[string]bus.TopicConfig{"orders": {Partitions: 2, OrderingKey: keyOf}}
	cleanupGroup(t, prefix, "orders", "billing", 2)
	pub := newProcess(t, prefix, topics)

	first := newRecorder()
	member := newProcess(t, prefix, topics)
	sub := mustSub(t)(member.bus.SubscribeGroup("orders", "billing", first.listener("billing")))
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		if err := pub.bus.Publish(context.Background(), "orders", placed(i, 5)); err != nil {
			t.Fatal(err)
		}
	}
	if s := pub.bus.Stats(); s.Dropped[bus.DropNoSubscribers] != 0 {
		t.Fatalf("events counted as without subscribers: %d (the group's queues keep them)", s.Dropped[bus.DropNoSubscribers])
	}
	later := newRecorder()
	again := newProcess(t, prefix, topics)
	mustSub(t)(again.bus.SubscribeGroup("orders", "billing", later.listener("billing")))
	later.wait(t, n)
	later.check(t)
	if first.total.Load() != 0 {
		t.Errorf("the unsubscribed member handled %d events", first.total.Load())
	}
}

func TestBrokerRetryKeepsTheMessageOnTheBroker(t *testing.T) {
	prefix := uniqueName(t)
	topics := map[string]bus.TopicConfig{"orders": {Partitions: 1, OrderingKey: keyOf,
		RetryPolicy: listener.RetryPolicy{MaxAttempts: 100, InitialDelay: time.Hour, MaxDelay: time.Hour}}}
	cleanupGroup(t, prefix, "orders", "billing", 1)
	a := newProcess(t, prefix, topics)
	failed := make(chan struct{}, 16)
	mustSub(t)(a.bus.SubscribeGroup("orders", "billing", shared.NewBaseListener("billing", func(shared.Event) error {
		failed <- struct{}{}
		return errors.New("not now")
	})))
	if err := a.bus.Publish(context.Background(), "orders", placed(1, 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-failed:
	case <-time.After(30 * time.Second):
		t.Fatal("the first attempt never ran")
	}
	// The event waits an hour for its retry, unacknowledged. This member's
	// connection dies (as with a crash): another member gets the event.
	b := newProcess(t, prefix, topics)
	got := newRecorder()
	mustSub(t)(b.bus.SubscribeGroup("orders", "billing", got.listener("billing")))
	a.crashed.Store(true)
	if err := a.client.Close(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	got.wait(t, 1)
}

func TestBrokerReconnectsAndLosesNothing(t *testing.T) {
	requireRabbitmqctl(t)
	prefix := uniqueName(t)
	topics := map[string]bus.TopicConfig{"orders": {Partitions: 2, OrderingKey: keyOf}}
	cleanupGroup(t, prefix, "orders", "billing", 2)
	a := newProcess(t, prefix, topics)
	sub, group := newRecorder(), newRecorder()
	mustSub(t)(a.bus.SubscribeE("orders", sub.listener("sub")))
	mustSub(t)(a.bus.SubscribeGroup("orders", "billing", group.listener("billing")))
	const n = 200
	var receipts []*bus.PublishReceipt
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			r, err := a.bus.PublishAsync(context.Background(), "orders", placed(i, 7))
			if err != nil {
				t.Fatal(err)
			}
			receipts = append(receipts, r)
		}
	}
	publish(0, n/2)
	for i, r := range receipts {
		if err := r.Wait(testCtx(t, 60*time.Second)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	// The topic's exchange vanishes, then every connection drops: the
	// broker must declare its topology again and resume consuming.
	if err := rawChannel(t).ExchangeDelete(a.broker.Exchange("orders"), false, false); err != nil {
		t.Fatal(err)
	}
	closeConnections(t, prefix+"#")
	publish(n/2, n)
	for i, r := range receipts {
		if err := r.Wait(testCtx(t, 60*time.Second)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	waitDistinct := func(who string, r *recorder) {
		deadline := time.After(60 * time.Second)
		for {
			r.mu.Lock()
			got := len(r.seen)
			r.mu.Unlock()
			if got == n {
				return
			}
			select {
			case <-r.handled:
			case <-deadline:
				t.Fatalf("%s handled %d distinct events of %d", who, got, n)
			}
		}
	}
	waitDistinct("the subscriber", sub)
	waitDistinct("the group", group)
	if s := a.client.Stats(); s.Reconnects == 0 {
		t.Fatal("no reconnection happened")
	}
}

// waitHeld waits until p's member of group holds n partitions of topic
// and returns how long that took.
func waitHeld(t *testing.T, p *process, topic, group string, n int) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(amqp.HeldPartitions(p.broker, topic, group)) != n {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("holding %v, want %d partitions", amqp.HeldPartitions(p.broker, topic, group), n)
		}
	}
	return time.Since(start)
}

func TestBrokerGroupRebalancesWhenMembersComeAndGo(t *testing.T) {
	prefix := uniqueName(t)
	topics := map[string]bus.TopicConfig{"orders": {Partitions: 4, OrderingKey: keyOf}}
	cleanupGroup(t, prefix, "orders", "billing", 4)
	a := newProcess(t, prefix, topics)
	rec := newRecorder()
	mustSub(t)(a.bus.SubscribeGroup("orders", "billing", rec.listener("billing")))
	first := waitHeld(t, a, "orders", "billing", 4)

	b := newProcess(t, prefix, topics)
	sub := mustSub(t)(b.bus.SubscribeGroup("orders", "billing", rec.listener("billing")))
	join := time.Now()
	waitHeld(t, b, "orders", "billing", 2)
	waitHeld(t, a, "orders", "billing", 2)
	joined := time.Since(join)

	leave := time.Now()
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, a, "orders", "billing", 4)
	left := time.Since(leave)

	// The group still delivers everything, in key order.
	for i := range 100 {
		if err := a.bus.Publish(context.Background(), "orders", placed(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	rec.wait(t, 100)
	rec.check(t)
	t.Logf("heartbeat %v, peer timeout %v: first member took its partitions in %v; a join rebalanced in %v, a leave in %v",
		100*time.Millisecond, time.Second, first.Round(time.Millisecond), joined.Round(time.Millisecond), left.Round(time.Millisecond))
}

func TestBrokerMalformedMessageIsCountedNotHandled(t *testing.T) {
	prefix := uniqueName(t)
	topics := map[string]bus.TopicConfig{"orders": {Partitions: 1}}
	cleanupGroup(t, prefix, "orders", "billing", 1)
	a := newProcess(t, prefix, topics)
	rec := newRecorder()
	mustSub(t)(a.bus.SubscribeGroup("orders", "billing", rec.listener("billing")))
	waitHeld(t, a, "orders", "billing", 1)
	// Something that is not a CloudEvent lands in the group's queue.
	if err := rawChannel(t).Publish("", a.broker.GroupQueue("orders", "billing", 0), false, false,
		amqp091.Publishing{Body: []byte("not an event")}); err != nil {
		t.Fatal(err)
	}
	if err := a.bus.Publish(context.Background(), "orders", placed(1, 1)); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, 1)
	rec.check(t)
	if n := a.bus.Stats().Dropped[bus.DropMalformed]; n != 1 {
		t.Fatalf("DropMalformed = %d, want 1", n)
	}
}
