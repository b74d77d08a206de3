package amqp_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
)

// TestFaultBusSurvivesBrokerRestart runs the bus on RabbitMQ through a
// restart of the RabbitMQ application: a consumer group on durable quorum
// queues and a plain subscription, events confirmed before the restart
// (most still unhandled, held back by the group's handler), events
// published while the broker is down and after it is back. Every event
// whose publish was confirmed must reach the group; the plain
// subscription, whose queues are its process's own and do not outlive the
// broker, must get everything confirmed after it came back.
//
// It stops the broker for every client, so it runs only with
// NOVA_FAULT_TESTS=1 (as .ci/run does).
func TestFaultBusSurvivesBrokerRestart(t *testing.T) {
	requireFaultTests(t, "stops and starts the RabbitMQ app")
	holdBrokerExclusively(t)
	requireRabbitmqctl(t)
	restoreBrokerOnCleanup(t)
	prefix := uniqueName(t)
	topics := map[string]bus.TopicConfig{"orders": {Partitions: 2, OrderingKey: keyOf}}
	cleanupGroup(t, prefix, "orders", "billing", 2)
	p := newProcess(t, prefix, topics)

	// The group's handler waits at the gate until the broker is back, so
	// that the confirmed events are still on the broker when it stops.
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	group, sub := newRecorder(), newRecorder()
	gated := group.listener("billing")
	mustSub(t)(p.bus.SubscribeGroup("orders", "billing", shared.NewListener("billing", func(ctx context.Context, e shared.Event) error {
		<-gate
		return gated.Handle(ctx, e)
	})))
	mustSub(t)(p.bus.SubscribeE("orders", sub.listener("sub")))

	const before, during, after = 200, 100, 100
	publish := func(from, to int) []*bus.PublishReceipt {
		var rs []*bus.PublishReceipt
		for i := from; i < to; i++ {
			r, err := p.bus.PublishAsync(context.Background(), "orders", placed(i, 7))
			if err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
			rs = append(rs, r)
		}
		return rs
	}
	waitAll := func(rs []*bus.PublishReceipt, from int) {
		t.Helper()
		for i, r := range rs {
			if err := r.Wait(testCtx(t, 90*time.Second)); err != nil {
				t.Fatalf("publish %d: %v", from+i, err)
			}
		}
	}
	waitAll(publish(0, before), 0)

	began := time.Now()
	rabbitmqctl(t, "stop_app")
	// Accepted while the broker is down: the publisher holds them and
	// sends them once it is back; their receipts settle on the confirm.
	down := publish(before, before+during)
	rabbitmqctl(t, "start_app")
	rabbitmqctl(t, "await_startup")
	t.Logf("RabbitMQ app stopped and started again in %v", time.Since(began).Round(time.Millisecond))
	waitAll(down, before)
	open()
	waitAll(publish(before+during, before+during+after), before+during)

	total := before + during + after
	waitDistinct := func(who string, r *recorder, ids func(i int) bool, want int) {
		t.Helper()
		deadline := time.After(90 * time.Second)
		for {
			r.mu.Lock()
			got := 0
			for i := range total {
				if ids(i) && r.seen[placed(i, 7).ID()] > 0 {
					got++
				}
			}
			r.mu.Unlock()
			if got == want {
				return
			}
			select {
			case <-r.handled:
			case <-deadline:
				t.Fatalf("%s handled %d of the %d events it must get", who, got, want)
			}
		}
	}
	waitDistinct("the group", group, func(int) bool { return true }, total)
	waitDistinct("the plain subscription", sub, func(i int) bool { return i >= before+during }, after)
	group.check(t)
	sub.check(t)
	if s := p.client.Stats(); s.Reconnects == 0 {
		t.Error("the client never reconnected")
	}
	sub.mu.Lock()
	early := 0
	for i := range before + during {
		if sub.seen[placed(i, 7).ID()] > 0 {
			early++
		}
	}
	sub.mu.Unlock()
	t.Logf("the group handled all %d confirmed events (%d handlings); the plain subscription handled %d of the %d published before or during the restart and all %d after it",
		total, group.total.Load(), early, before+during, after)
}
