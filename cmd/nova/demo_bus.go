package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

var errGatewayBusy = errors.New("payment gateway busy")

// orderLog checks, per listener and customer, that orders arrive in the
// order they were placed.
type orderLog struct {
	mu         sync.Mutex
	last       map[string]int // listener/customer → last order number seen
	violations int
}

func (o *orderLog) see(listenerID string, e shared.Event) {
	n, _ := strconv.Atoi(e.Metadata()["seq"])
	k := listenerID + "/" + e.Metadata()["customer_id"]
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last == nil {
		o.last = map[string]int{}
	}
	if n < o.last[k] {
		o.violations++
	}
	o.last[k] = n
}

type busDemo struct {
	broker      string // where the topics lived: "" for memory
	notes       []string
	stats       bus.Stats
	transitions []string
	deadLetters []listener.DeadLetter
	violations  int
	handled     map[string]int
	lmStats     listener.Stats
}

// runBusDemo routes the orders through bus topics partitioned by customer,
// with listener policies: billing retries a busy gateway and dead-letters
// invalid orders, shipping's circuit opens while its carrier is down and
// closes when it is back, the ledger is ExactlyOnce.
func runBusDemo(ctx context.Context, cfg demoConfig, orders []Order) (*busDemo, error) {
	pool := workerpool.New(4, 256, cfg.poolOpts("bus.workerpool")...)
	cfg.watch("bus.workerpool", pool)
	defer pool.Close(context.Background())

	res := &busDemo{handled: map[string]int{}}
	var mu sync.Mutex
	count := func(id string) { mu.Lock(); res.handled[id]++; mu.Unlock() }
	lm := listener.NewManager(listener.ManagerConfig{})

	var seqLog orderLog
	var busyOnce sync.Map // order ID → the gateway was busy once already
	billing := shared.NewBaseListener("billing", func(e shared.Event) error {
		o := e.Data().(Order)
		n, _ := strconv.Atoi(e.Metadata()["seq"])
		if n%11 == 0 {
			return shared.Permanent(fmt.Errorf("order %s: invalid billing address", o.ID))
		}
		if _, again := busyOnce.LoadOrStore(o.ID, true); !again && n%5 == 0 {
			// The gateway is busy the first time: a retry gets through.
			return fmt.Errorf("charging %s: %w", o.ID, errGatewayBusy)
		}
		seqLog.see("billing", e)
		count("billing")
		return nil
	})
	var carrierCalls atomic.Int32
	shipping := shared.NewBaseListener("shipping", func(e shared.Event) error {
		if carrierCalls.Add(1) <= 3 {
			return errors.New("carrier API unreachable")
		}
		seqLog.see("shipping", e)
		count("shipping")
		return nil
	})
	var tmu sync.Mutex
	if err := lm.Register(billing, listener.ListenerConfig{
		RetryPolicy: listener.RetryPolicy{MaxAttempts: 3, InitialDelay: 5 * time.Millisecond,
			RetryCondition: func(err error) bool { return errors.Is(err, errGatewayBusy) }},
		DeadLetter: listener.DeadLetterConfig{Enabled: true},
	}); err != nil {
		return nil, err
	}
	if err := lm.Register(shipping, listener.ListenerConfig{
		RetryPolicy: listener.RetryPolicy{MaxAttempts: 5, InitialDelay: 2 * time.Millisecond},
		Circuit: listener.CircuitConfig{Enabled: true, FailureThreshold: 3, CoolDown: 30 * time.Millisecond, SuccessThreshold: 1,
			OnStateChange: func(id string, from, to listener.CircuitState) {
				tmu.Lock()
				res.transitions = append(res.transitions, fmt.Sprintf("%s: %s → %s", id, from, to))
				tmu.Unlock()
			}},
	}); err != nil {
		return nil, err
	}

	bcfg := bus.Config{WorkerPool: pool, Listeners: lm, Metrics: cfg.hook()}
	var broker *demoBroker
	if cfg.amqp != "" {
		// The same topics, on RabbitMQ: see demo_bus_amqp.go.
		var err error
		if broker, err = openDemoBroker(ctx, cfg.amqp); err != nil {
			return nil, err
		}
		defer func() {
			if err := broker.close(ctx, map[string][]string{"orders": {"fulfilment"}, "payments": nil}); err != nil {
				res.notes = append(res.notes, "cleaning RabbitMQ up: "+err.Error())
			}
		}()
		bcfg.Broker = broker.broker
		res.broker = "RabbitMQ: topic orders is exchange " + broker.broker.Exchange("orders")
	}
	b := bus.New(bcfg)
	cfg.watch("bus", b)
	byCustomer := func(e shared.Event) string { return e.Metadata()["customer_id"] }
	if err := b.CreateTopic("orders", bus.TopicConfig{Partitions: 8, OrderingKey: byCustomer, MaxConcurrency: 2}); err != nil {
		return nil, err
	}
	if err := b.CreateTopic("payments", bus.TopicConfig{Partitions: 4, OrderingKey: byCustomer, DeliveryMode: bus.ExactlyOnce}); err != nil {
		return nil, err
	}
	for _, sub := range []struct {
		topic, group string
		l            shared.Listener
	}{
		{"orders", "", billing},
		{"orders", "", shipping},
		{"orders", "fulfilment", shared.NewBaseListener("picker-1", func(shared.Event) error { count("picker-1"); return nil })},
		{"orders", "fulfilment", shared.NewBaseListener("picker-2", func(shared.Event) error { count("picker-2"); return nil })},
		{"payments", "", shared.NewBaseListener("ledger", func(shared.Event) error { count("ledger"); return nil })},
	} {
		var err error
		if sub.group != "" {
			_, err = b.SubscribeGroup(sub.topic, sub.group, sub.l)
		} else {
			_, err = b.SubscribeE(sub.topic, sub.l)
		}
		if err != nil {
			return nil, err
		}
	}

	if broker != nil {
		if err := broker.waitGroup(ctx, "orders", "fulfilment", 8); err != nil {
			return nil, err
		}
	}
	for i, o := range orders {
		md := map[string]string{"customer_id": o.CustomerID, "seq": strconv.Itoa(i + 1)}
		if err := b.Publish(ctx, "orders", shared.NewBaseEventWithMetadata(o.ID, "order.placed", o, md)); err != nil {
			return nil, err
		}
		// The payment provider delivers every confirmation twice.
		pay := shared.NewBaseEventWithMetadata("pay-"+o.ID, "payment.confirmed", o, md)
		for range 2 {
			if err := b.Publish(ctx, "payments", pay); err != nil {
				return nil, err
			}
		}
	}
	if broker != nil {
		// On RabbitMQ a consumer group member hands its partitions back at
		// Shutdown: let it handle the orders first.
		if err := waitHandled(ctx, &mu, res.handled, len(orders), "picker-1", "picker-2"); err != nil {
			return nil, err
		}
	}
	if err := b.Shutdown(ctx); err != nil {
		return nil, fmt.Errorf("bus shutdown: %w", err)
	}
	if err := lm.Stop(ctx); err != nil {
		return nil, fmt.Errorf("listener manager stop: %w", err)
	}
	res.stats = b.Stats()
	res.lmStats = lm.Stats()
	res.violations = seqLog.violations
	var err error
	res.deadLetters, err = lm.DeadLetters(ctx, listener.DeadLetterFilter{})
	return res, err
}

func (r *busDemo) print(d *demo) {
	st := r.stats
	fmt.Fprintln(d.out, "\nBus (topics partitioned by customer)")
	if r.broker != "" {
		fmt.Fprintf(d.out, "  on %s\n", r.broker)
	}
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)

	fmt.Fprintf(tw, "  published\t%d\t(orders, and every payment twice)\n", st.Published)
	fmt.Fprintf(tw, "  processed\t%d\t\n", st.Processed)
	fmt.Fprintf(tw, "  retried\t%d\t(busy gateway, carrier down, circuit open)\n", st.Retried)
	fmt.Fprintf(tw, "  dead-lettered\t%d\t\n", st.DeadLettered)
	fmt.Fprintf(tw, "  duplicates suppressed\t%d\t(ExactlyOnce payments)\n", st.DuplicatesSuppressed)
	fmt.Fprintf(tw, "  dropped\t%d\t\n", st.TotalDropped())
	fmt.Fprintf(tw, "  order violations\t%d\t(per customer, per listener, retries included)\n", r.violations)
	tw.Flush()

	fmt.Fprintln(d.out, "\nBus listeners")
	tw = tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	for _, id := range []string{"billing", "shipping", "picker-1", "picker-2", "ledger"} {
		fmt.Fprintf(tw, "  %s\t%d handled\n", id, r.handled[id])
	}
	tw.Flush()

	for _, n := range r.notes {
		fmt.Fprintf(d.out, "  note: %s\n", n)
	}
	fmt.Fprintln(d.out, "\nCircuit breaker")
	if len(r.transitions) == 0 {
		fmt.Fprintln(d.out, "  no transitions")
	}
	for _, t := range r.transitions {
		fmt.Fprintf(d.out, "  %s\n", t)
	}
	fmt.Fprintln(d.out, "\nDead letters (listener manager store)")
	if len(r.deadLetters) == 0 {
		fmt.Fprintln(d.out, "  none")
	}
	for _, dl := range r.deadLetters {
		msg := dl.Error
		if i := strings.Index(msg, "invalid"); i >= 0 {
			msg = msg[i:]
		}
		fmt.Fprintf(d.out, "  %s  %s  %s\n", dl.ListenerID, dl.Event.ID(), msg)
	}
}
