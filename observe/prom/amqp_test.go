package prom_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/novaevents/nova/observe/internal/rabbit"
	"github.com/novaevents/nova/observe/prom"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

func TestRabbitMQTrafficIsCounted(t *testing.T) {
	rabbit.Require(t)
	reg, m := newMetrics(t, prom.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	name := rabbit.Name(t)
	ex, q := name+".x", name+".q"
	const retryDelay = 20 * time.Millisecond
	rabbit.Cleanup(t, []string{q, amqp.RetryQueue(q, retryDelay), q + ".dlq"}, []string{ex})
	client, err := amqp.Dial(ctx, amqp.Config{URL: rabbit.URL(), Topology: amqp.Topology{
		Exchanges: []amqp.Exchange{{Name: ex}},
		Queues:    []amqp.Queue{{Name: q}},
		Bindings:  []amqp.Binding{{Queue: q, Exchange: ex, Key: "#"}},
	}})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer client.Close(ctx)
	pub, err := client.NewPublisher(amqp.PublisherConfig{Name: "pub", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	con, err := client.NewConsumer(amqp.ConsumerConfig{Queue: q, Name: "con", Metrics: m, Retry: amqp.RetryPolicy{MaxAttempts: 2, InitialDelay: retryDelay}})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]any{"client": client, "pub": pub, "con": con} {
		if err := m.Watch(name, c); err != nil {
			t.Fatal(err)
		}
	}

	// ok1 succeeds; r1 fails once, then succeeds on its retry; d1 fails
	// twice and is dead-lettered.
	var mu sync.Mutex
	tries := map[string]int{}
	final := make(chan string, 3)
	err = con.StartEvents(ctx, shared.NewBaseListener("billing", func(e shared.Event) error {
		mu.Lock()
		tries[e.ID()]++
		n := tries[e.ID()]
		mu.Unlock()
		switch {
		case e.ID() == "d1":
			if n == 2 {
				final <- e.ID()
			}
			return errBoom
		case e.ID() == "r1" && n == 1:
			return errBoom
		}
		final <- e.ID()
		return nil
	}))
	if err != nil {
		t.Fatalf("StartEvents: %v", err)
	}
	body := map[string]string{"order": "o-1"}
	for _, id := range []string{"ok1", "r1", "d1"} {
		if err := pub.PublishEvent(ctx, ex, shared.NewBaseEvent(id, "order.paid", body)); err != nil {
			t.Fatalf("PublishEvent: %v", err)
		}
	}
	for range 3 {
		select {
		case <-final:
		case <-ctx.Done():
			t.Fatalf("handlers did not finish: %v", ctx.Err())
		}
	}
	// Stop lets the last handler settle its delivery (the dead letter).
	if err := con.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	f := gather(t, reg)
	f.value(t, 3, "nova_events_emitted_total", "component=pub", "type=order.paid", "result=ok")
	f.value(t, 3, "nova_amqp_messages_published_total", "component=pub", "result=ok")
	f.count(t, 3, "nova_amqp_publish_confirm_seconds", "component=pub")
	f.count(t, 3, "nova_amqp_message_size_bytes", "component=pub", "direction=publish")
	if s := f.get(t, "nova_amqp_message_size_bytes", "component=pub", "direction=publish"); s.value != 3*float64(len(`{"order":"o-1"}`)) {
		t.Errorf("published %v bytes, want three bodies of %d", s.value, len(`{"order":"o-1"}`))
	}

	f.value(t, 2, "nova_amqp_messages_consumed_total", "component=con", "queue="+q, "result=ok")
	f.value(t, 3, "nova_amqp_messages_consumed_total", "component=con", "queue="+q, "result=error")
	f.count(t, 5, "nova_amqp_consume_seconds", "component=con", "queue="+q)
	f.count(t, 5, "nova_amqp_message_size_bytes", "component=con", "direction=consume")
	f.value(t, 2, "nova_events_processed_total", "component=con", "listener="+q, "result=ok")
	f.value(t, 3, "nova_events_processed_total", "component=con", "listener="+q, "result=error")
	f.value(t, 2, "nova_events_retried_total", "component=con", "listener="+q)
	f.value(t, 1, "nova_dead_letters_total", "component=con", "listener="+q)

	if s := f.get(t, "nova_amqp_connections", "component=client"); s.value < 1 {
		t.Errorf("nova_amqp_connections = %v, want at least 1", s.value)
	}
	f.value(t, 0, "nova_amqp_reconnects_total", "component=client")
	f.value(t, 0, "nova_queue_size", "component=pub", "queue=publish")
	f.value(t, 0, "nova_in_flight", "component=pub")
	f.value(t, 0, "nova_in_flight", "component=con")

	f.labelNames(t, map[string][]string{
		"nova_amqp_messages_published_total": {"component", "result"},
		"nova_amqp_publish_confirm_seconds":  {"component"},
		"nova_amqp_message_size_bytes":       {"component", "direction"},
		"nova_amqp_messages_consumed_total":  {"component", "queue", "result"},
		"nova_amqp_consume_seconds":          {"component", "queue"},
		"nova_amqp_connections":              {"component"},
		"nova_amqp_reconnects_total":         {"component"},
	})
	lint(t, reg)
}
