package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/observe/prom"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// Order is the payload of the demo's events.
type Order struct {
	ID         string  `json:"id"`
	CustomerID string  `json:"customer_id"`
	Total      float64 `json:"total"`
}

var errCardDeclined = errors.New("card declined")

type demoConfig struct {
	orders    int
	customers int
	postgres  string        // DSN; empty: the embedded memory store
	amqp      string        // URL; empty: no RabbitMQ part
	metrics   *prom.Metrics // -metrics; nil: none
}

func runDemo(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	var cfg demoConfig
	fs.IntVar(&cfg.orders, "orders", 24, "number of orders to place")
	fs.IntVar(&cfg.customers, "customers", 5, "number of customers placing them")
	fs.StringVar(&cfg.postgres, "postgres", "", "keep the events in PostgreSQL at this DSN instead of in memory\n(e.g. postgres://postgres@127.0.0.1:5432/test)")
	fs.StringVar(&cfg.amqp, "amqp", "", "run the bus topics on RabbitMQ at this URL, and also send the orders through it\nas CloudEvents and consume them back (e.g. amqp://guest:guest@127.0.0.1:5672/)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus /metrics and /debug/pprof on this address (e.g. :9090), and keep\nserving after the traffic until interrupted")
	metricsFor := fs.Duration("metrics-for", 0, "with -metrics, stop serving after this long instead (e.g. 1m)")
	uiAddr := fs.String("ui", "", "serve the live dashboard on this address (e.g. :8080) and keep orders flowing,\nwith failures, retries, a breaker and dead letters, until interrupted")
	uiFor := fs.Duration("ui-for", 0, "with -ui, stop after this long instead (e.g. 1m)")
	uiReadOnly := fs.Bool("ui-read-only", false, "with -ui, leave out the redrive and discard buttons")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *uiAddr != "" {
		return runLiveUI(ctx, *uiAddr, *uiFor, *uiReadOnly, out)
	}
	if cfg.orders <= 0 || cfg.customers <= 0 {
		return fmt.Errorf("-orders and -customers must be positive")
	}
	if *metricsAddr == "" {
		return newDemo(out).run(ctx, cfg)
	}
	srv, err := startMetrics(*metricsAddr, out)
	if err != nil {
		return err
	}
	cfg.metrics = srv.m
	if err = newDemo(out).run(ctx, cfg); err == nil {
		srv.hold(ctx, *metricsFor, out)
	}
	return errors.Join(err, srv.close())
}

// demo wires Nova's in-memory parts into a small order flow and reports what
// happened to each event.
type demo struct {
	out    io.Writer
	mu     sync.Mutex
	counts map[string]int // listener → events handled successfully
	failed map[string]int // listener → failures
	notes  []string
}

func newDemo(out io.Writer) *demo {
	return &demo{out: out, counts: map[string]int{}, failed: map[string]int{}}
}

func (d *demo) handled(listener string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.failed[listener]++
	} else {
		d.counts[listener]++
	}
}

func (d *demo) note(format string, args ...any) {
	d.mu.Lock()
	d.notes = append(d.notes, fmt.Sprintf(format, args...))
	d.mu.Unlock()
}

// listener returns a shared listener that records its outcome.
func (d *demo) listener(id string, fn func(shared.Event) error) shared.Listener {
	return shared.NewBaseListener(id, func(e shared.Event) error {
		err := fn(e)
		d.handled(id, err)
		return err
	})
}

func (d *demo) run(ctx context.Context, cfg demoConfig) error {
	start := time.Now()
	pool := workerpool.New(4, 256, cfg.poolOpts("workerpool")...)
	cfg.watch("workerpool", pool)
	defer pool.Close(context.Background())

	em := emitter.New(emitter.Config{WorkerPool: pool, BufferSize: 512, Metrics: cfg.hook()})
	cfg.watch("emitter", em)
	ds, err := openDemoStore(ctx, cfg.postgres)
	if err != nil {
		return err
	}
	defer ds.close()
	// Every order event is also kept in the event store, one stream per customer.
	em.Subscribe("order.>", ds.listener())
	var before, after atomic.Int64
	em.Middleware(shared.MiddlewareFunc{
		BeforeFunc: func(shared.Event) error { before.Add(1); return nil },
		AfterFunc:  func(shared.Event, error) error { after.Add(1); return nil },
	})

	// Synchronous listeners: inventory reserves stock, payment charges the
	// card (every seventh order is declined).
	em.Subscribe("order.created", d.listener("inventory", func(shared.Event) error { return nil }))
	em.Subscribe("order.created", d.listener("payment", func(e shared.Event) error {
		o := e.Data().(Order)
		if o.Total > 0 && int(o.Total)%7 == 0 {
			return fmt.Errorf("charging order %s: %w", o.ID, errCardDeclined)
		}
		return nil
	}))
	// Asynchronous listener: the mailer sends receipts off the request path.
	em.Subscribe("order.paid", d.listener("mailer", func(shared.Event) error { return nil }))
	// A wildcard listener audits every order event.
	em.Subscribe("order.>", d.listener("audit", func(shared.Event) error { return nil }))

	orders := make([]Order, cfg.orders)
	for i := range orders {
		orders[i] = Order{ID: fmt.Sprintf("o-%03d", i+1), CustomerID: fmt.Sprintf("c-%d", i%cfg.customers+1), Total: float64(10 + i*3)}
	}
	var declined int
	for _, o := range orders {
		e := shared.NewBaseEventWithMetadata(o.ID, "order.created", o, map[string]string{"customer_id": o.CustomerID})
		if err := em.Emit(ctx, e); err != nil {
			if !errors.Is(err, errCardDeclined) {
				return err
			}
			declined++
			d.note("%s declined: %v", o.ID, err)
			continue
		}
		paid := shared.NewBaseEventWithMetadata(o.ID+"-paid", "order.paid", o, map[string]string{"customer_id": o.CustomerID})
		if err := em.EmitAsync(ctx, paid); err != nil {
			return err
		}
	}
	if err := em.Shutdown(ctx); err != nil {
		return fmt.Errorf("emitter shutdown: %w", err)
	}
	st := em.Stats()

	fmt.Fprintf(d.out, "Nova demo: %d orders from %d customers\n\n", cfg.orders, cfg.customers)
	fmt.Fprintln(d.out, "Emitter")
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  events emitted\t%d\t(sync order.created + async order.paid)\n", st.EventsEmitted)
	fmt.Fprintf(tw, "  events processed\t%d\t\n", st.EventsProcessed)
	fmt.Fprintf(tw, "  failed events\t%d\t(cards declined: %d)\n", st.FailedEvents, declined)
	fmt.Fprintf(tw, "  async events\t%d\tall delivered before Shutdown returned\n", st.AsyncEvents)
	fmt.Fprintf(tw, "  middleware\t%d before / %d after\t\n", before.Load(), after.Load())
	tw.Flush()
	d.printListeners()
	if len(d.notes) > 0 {
		fmt.Fprintln(d.out, "\nNotes")
		for i, n := range d.notes {
			if i == 3 {
				fmt.Fprintf(d.out, "  … and %d more\n", len(d.notes)-3)
				break
			}
			fmt.Fprintf(d.out, "  %s\n", n)
		}
	}

	bd, err := runBusDemo(ctx, cfg, orders)
	if err != nil {
		return err
	}
	bd.print(d)
	if err := ds.print(ctx, d.out, orders[0].CustomerID); err != nil {
		return err
	}
	if cfg.amqp != "" {
		if err := runAMQPDemo(ctx, cfg.amqp, orders, d.out); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.out, "\nDone in %v.\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func (d *demo) printListeners() {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.counts)+len(d.failed))
	seen := map[string]bool{}
	for n := range d.counts {
		names, seen[n] = append(names, n), true
	}
	for n := range d.failed {
		if !seen[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	fmt.Fprintln(d.out, "\nListeners")
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  listener\thandled\tfailed")
	for _, n := range names {
		fmt.Fprintf(tw, "  %s\t%d\t%d\n", n, d.counts[n], d.failed[n])
	}
	tw.Flush()
}
