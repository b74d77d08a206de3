package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

// runAMQPDemo sends the orders through RabbitMQ as CloudEvents and consumes
// them back, then removes what it declared, whichever way it returns.
func runAMQPDemo(ctx context.Context, url string, orders []Order, out io.Writer) (err error) {
	reg := codec.NewRegistry()
	if err := codec.Register[Order](reg, "demo.order"); err != nil {
		return err
	}
	enc := amqp.EventEncoding{Registry: reg, Source: "nova-demo"}
	name := "nova-demo-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	exchange, queue := name+".orders", name+".audit"
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client, err := amqp.Dial(dctx, amqp.Config{URL: url, Name: name, Topology: amqp.Topology{
		Exchanges: []amqp.Exchange{{Name: exchange}},
		Queues:    []amqp.Queue{{Name: queue}},
		Bindings:  []amqp.Binding{{Queue: queue, Exchange: exchange, Key: "order.#"}},
	}})
	if err != nil {
		return fmt.Errorf("connecting to RabbitMQ: %w", err)
	}
	// The queues and the exchange are durable and uniquely named: delete
	// them on every path, or each failed run would leave its own behind.
	queues := []string{queue}
	var (
		consumer  *amqp.Consumer
		publisher *amqp.Publisher
	)
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer ccancel()
		if consumer != nil {
			_ = consumer.Stop(cctx) // ErrNotStarted if it never started
		}
		if publisher != nil {
			_ = publisher.Close(cctx)
		}
		cleanup := client.Delete(cctx, queues, []string{exchange})
		if cerr := client.Close(cctx); cleanup == nil {
			cleanup = cerr
		}
		if err == nil && cleanup != nil {
			err = fmt.Errorf("removing the demo's queues and exchange: %w", cleanup)
		}
	}()

	consumer, err = client.NewConsumer(amqp.ConsumerConfig{Queue: queue, Events: enc, Retry: amqp.RetryPolicy{MaxAttempts: 3, InitialDelay: 100 * time.Millisecond}})
	if err != nil {
		return err
	}
	for _, q := range consumer.Topology().Queues {
		queues = append(queues, q.Name)
	}
	var got, typed atomic.Int64
	all := make(chan struct{})
	want := int64(len(orders))
	err = consumer.StartEvents(ctx, shared.NewBaseListener("audit", func(e shared.Event) error {
		if _, ok := e.Data().(Order); ok {
			typed.Add(1)
		}
		if got.Add(1) == want {
			close(all)
		}
		return nil
	}))
	if err != nil {
		return err
	}
	publisher, err = client.NewPublisher(amqp.PublisherConfig{Events: enc, Mandatory: true})
	if err != nil {
		return err
	}
	receipts := make([]*amqp.Receipt, 0, len(orders))
	for _, o := range orders {
		e := shared.NewBaseEventWithMetadata(o.ID, "order.created", o, map[string]string{"customer_id": o.CustomerID})
		r, err := publisher.PublishEventAsync(ctx, exchange, e)
		if err != nil {
			return err
		}
		receipts = append(receipts, r)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := amqp.WaitAll(wctx, receipts...); err != nil {
		return fmt.Errorf("waiting for confirms: %w", err)
	}
	select {
	case <-all:
	case <-wctx.Done():
		return fmt.Errorf("consumed %d of %d: %w", got.Load(), want, wctx.Err())
	}
	if err := consumer.Stop(ctx); err != nil {
		return err
	}
	ps := publisher.Stats()
	if err := publisher.Close(ctx); err != nil {
		return err
	}

	fmt.Fprintln(out, "\nRabbitMQ (CloudEvents over AMQP)")
	fmt.Fprintf(out, "  published and confirmed  %d\n", ps.Confirmed)
	fmt.Fprintf(out, "  consumed back            %d (%d with their Go type restored)\n", got.Load(), typed.Load())
	fmt.Fprintf(out, "  confirm latency p99      %v\n", ps.ConfirmLatency.Quantile(0.99))
	return nil
}
