package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/transport/amqp"
)

// demoBroker is the bus demo's RabbitMQ broker: its topics become
// exchanges and queues named after the run, removed when it ends.
type demoBroker struct {
	client *amqp.Client
	broker *amqp.Broker
}

func openDemoBroker(ctx context.Context, url string) (*demoBroker, error) {
	reg := codec.NewRegistry()
	if err := codec.Register[Order](reg, "demo.order"); err != nil {
		return nil, err
	}
	prefix := "nova-demo-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ".bus"
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client, err := amqp.Dial(dctx, amqp.Config{URL: url, Name: prefix})
	if err != nil {
		return nil, fmt.Errorf("connecting to RabbitMQ: %w", err)
	}
	broker, err := client.NewBroker(amqp.BrokerConfig{Prefix: prefix, Events: amqp.EventEncoding{Registry: reg},
		Heartbeat: 100 * time.Millisecond, PeerTimeout: time.Second})
	if err != nil {
		_ = client.Close(ctx)
		return nil, err
	}
	return &demoBroker{client: client, broker: broker}, nil
}

// waitGroup waits until this process's member of group holds all n
// partitions of topic, so that the demo's events are handled here.
func (d *demoBroker) waitGroup(ctx context.Context, topic, group string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(d.broker.Held(topic, group)) < n {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("consumer group %s did not take its partitions: %w", group, ctx.Err())
		}
	}
	return nil
}

// close runs after the bus's Shutdown: it deletes the run's group queues
// and exchanges, then closes the broker and the connection.
func (d *demoBroker) close(ctx context.Context, topics map[string][]string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	errs := []error{d.broker.Close(ctx)}
	var exchanges []string
	for topic, groups := range topics {
		for _, g := range groups {
			errs = append(errs, d.broker.DeleteGroup(ctx, topic, g))
		}
		exchanges = append(exchanges, d.broker.Exchange(topic))
	}
	errs = append(errs, d.client.Delete(ctx, nil, exchanges))
	errs = append(errs, d.client.Close(ctx))
	return errors.Join(errs...)
}

// waitHandled waits until the listeners ids have handled n events together.
func waitHandled(ctx context.Context, mu interface {
	Lock()
	Unlock()
}, handled map[string]int, n int, ids ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		mu.Lock()
		got := 0
		for _, id := range ids {
			got += handled[id]
		}
		mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%v handled %d of %d events: %w", ids, got, n, ctx.Err())
		}
	}
}
