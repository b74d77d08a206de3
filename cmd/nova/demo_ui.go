package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/observe/dashboard"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store/memory"
	"github.com/novaevents/nova/workerpool"
)

// liveTiming sets the pace of the live demo: how fast orders come, how
// long the shipping service's outages last, and when a downstream that
// refused an order recovers. Tests run it faster.
type liveTiming struct {
	Rate       int           // orders per second
	OutageOn   time.Duration // shipping fails for this long...
	OutageOff  time.Duration // ...then works for this long
	CoolDown   time.Duration // the shipping breaker's cool-down
	RecoverIn  time.Duration // a declined order's cause is fixed after this
	PoisonEach int           // every n-th order is declined until it is fixed
	Sample     time.Duration // the dashboard's sampling interval (0: its default)
}

var defaultLiveTiming = liveTiming{
	Rate: 40, OutageOn: 15 * time.Second, OutageOff: 30 * time.Second,
	CoolDown: 5 * time.Second, RecoverIn: 20 * time.Second, PoisonEach: 60,
}

// liveDemo is the order flow of the demo, kept running with failures,
// retries, a breaker that opens and closes, and dead letters, behind the
// dashboard.
type liveDemo struct {
	timing  liveTiming
	pool    *workerpool.Pool
	em      *emitter.Emitter
	bus     *bus.Bus
	lm      *listener.Manager
	store   *memory.Store
	dash    *dashboard.Handler
	byID    map[string]shared.Listener
	start   time.Time
	seq     atomic.Int64
	outage  atomic.Bool
	redrove atomic.Int64 // dead letters handled successfully after a redrive
}

func newLiveDemo(t liveTiming, allowActions bool, log *slog.Logger) (*liveDemo, error) {
	d := &liveDemo{timing: t, start: time.Now(), byID: map[string]shared.Listener{}}
	d.pool = workerpool.New(4, 1024, workerpool.WithTiming(), workerpool.WithName("workerpool"))
	lat := dashboard.NewLatency(nil)
	d.lm = listener.NewManager(listener.ManagerConfig{Logger: log, Metrics: lat})
	d.store = memory.New(memory.Config{MaxEventsPerStream: 1000})
	d.em = emitter.New(emitter.Config{WorkerPool: d.pool, BufferSize: 512, Listeners: d.lm})
	d.bus = bus.New(bus.Config{WorkerPool: d.pool, Listeners: d.lm})

	byCustomer := func(e shared.Event) string { return e.Metadata()["customer_id"] }
	if err := d.bus.CreateTopic("orders", bus.TopicConfig{Partitions: 4, BufferSize: 2048, OrderingKey: byCustomer, MaxConcurrency: 2}); err != nil {
		return nil, err
	}

	dead := listener.DeadLetterConfig{Enabled: true}
	fast := listener.RetryPolicy{MaxAttempts: 3, InitialDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond}
	payments := shared.NewBaseListener("payments", d.charge)
	shipping := shared.NewBaseListener("shipping", d.ship)
	receipts := shared.NewBaseListener("receipts", func(e shared.Event) error {
		return d.store.Append(context.Background(), "customer-"+e.Metadata()["customer_id"], e)
	})
	for _, r := range []struct {
		l   shared.Listener
		cfg listener.ListenerConfig
	}{
		{payments, listener.ListenerConfig{RetryPolicy: fast, DeadLetter: dead}},
		{shipping, listener.ListenerConfig{RetryPolicy: fast, DeadLetter: dead, Circuit: listener.CircuitConfig{
			Enabled: true, FailureThreshold: 5, CoolDown: t.CoolDown, // held while open: the topic's lag grows
		}}},
		{receipts, listener.ListenerConfig{RetryPolicy: fast, DeadLetter: dead}},
	} {
		if err := d.lm.Register(r.l, r.cfg); err != nil {
			return nil, err
		}
		d.byID[r.l.ID()] = r.l
	}
	for _, s := range []shared.Subscription{
		d.bus.Subscribe("orders", payments),
		d.bus.Subscribe("orders", shipping),
	} {
		if s == nil {
			return nil, errors.New("demo: subscribing to orders failed")
		}
	}
	d.em.Subscribe("order.paid", receipts)

	d.dash = dashboard.New(dashboard.Options{
		Title: "Nova demo", Emitter: d.em, Bus: d.bus, Listeners: d.lm, Pool: d.pool, Store: d.store,
		Latency: lat, AllowActions: allowActions, Logger: log, Interval: t.Sample,
		// A redriven event goes back to the listener that gave up on it
		// only, through the manager, so the others do not see it twice.
		Republish: func(ctx context.Context, id string, e shared.Event) error {
			l, ok := d.byID[id]
			if !ok {
				return fmt.Errorf("demo: no listener %q", id)
			}
			return d.lm.Handle(ctx, l, e)
		},
	})
	return d, nil
}

var (
	errDeclined    = errors.New("card declined by the bank")
	errUnreachable = errors.New("shipping service unreachable")
	errFlaky       = errors.New("payment gateway timed out")
)

// charge fails now and then (a retry helps) and declines every
// PoisonEach-th order until RecoverIn after it was placed (retries do not
// help: it is dead-lettered, and a redrive after the fix succeeds).
func (d *liveDemo) charge(e shared.Event) error {
	if e.Metadata()["poison"] == "1" {
		if time.Since(e.Timestamp()) < d.timing.RecoverIn {
			return errDeclined
		}
		d.redrove.Add(1)
		return nil
	}
	if rand.IntN(10) == 0 {
		return errFlaky
	}
	return nil
}

func (d *liveDemo) ship(shared.Event) error {
	if d.outage.Load() {
		return errUnreachable
	}
	return nil
}

// run places orders until ctx ends, and switches the shipping outage on and
// off.
func (d *liveDemo) run(ctx context.Context) {
	tick := time.NewTicker(time.Second / time.Duration(max(1, d.timing.Rate)))
	defer tick.Stop()
	phase := time.NewTimer(d.timing.OutageOff)
	defer phase.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-phase.C:
			on := !d.outage.Load()
			d.outage.Store(on)
			if on {
				phase.Reset(d.timing.OutageOn)
			} else {
				phase.Reset(d.timing.OutageOff)
			}
		case <-tick.C:
			d.placeOrder(ctx)
		}
	}
}

func (d *liveDemo) placeOrder(ctx context.Context) {
	n := d.seq.Add(1)
	id := "order-" + strconv.FormatInt(n, 10)
	md := map[string]string{"customer_id": strconv.Itoa(rand.IntN(20))}
	if d.timing.PoisonEach > 0 && n%int64(d.timing.PoisonEach) == 0 {
		md["poison"] = "1"
	}
	o := Order{ID: id, CustomerID: md["customer_id"], Total: float64(10 + rand.IntN(200))}
	_ = d.bus.Publish(ctx, "orders", shared.NewBaseEventWithMetadata(id, "order.created", o, md))
	_ = d.em.EmitAsync(ctx, shared.NewBaseEventWithMetadata(id+"-paid", "order.paid", o, md))
}

func (d *liveDemo) close() {
	d.dash.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.em.Shutdown(ctx)
	_ = d.bus.Shutdown(ctx)
	_ = d.lm.Stop(ctx)
	_ = d.pool.Close(ctx)
	_ = d.store.Close()
}

// runLiveUI serves the dashboard on addr and keeps the demo's traffic
// running until ctx ends (Ctrl-C) or, if d > 0, for d.
func runLiveUI(ctx context.Context, addr string, d time.Duration, readOnly bool, out io.Writer) error {
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	demo, err := newLiveDemo(defaultLiveTiming, !readOnly, log)
	if err != nil {
		return err
	}
	defer demo.close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-ui: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/nova/", demo.dash)
	mux.Handle("/", http.RedirectHandler("/nova/", http.StatusFound))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	host := ln.Addr().String()
	if h, p, err := net.SplitHostPort(host); err == nil && (h == "::" || h == "0.0.0.0" || h == "") {
		host = net.JoinHostPort("127.0.0.1", p)
	}
	fmt.Fprintf(out, "Nova dashboard: http://%s/nova/\n", host)
	fmt.Fprintf(out, "Orders flow at %d/s; every %v the shipping service fails for %v (its breaker opens and closes),\n",
		defaultLiveTiming.Rate, defaultLiveTiming.OutageOff, defaultLiveTiming.OutageOn)
	fmt.Fprintf(out, "and every %d-th order is declined until %v later (dead letters to redrive).\n",
		defaultLiveTiming.PoisonEach, defaultLiveTiming.RecoverIn)
	if readOnly {
		fmt.Fprintln(out, "Read-only: no redrive or discard buttons.")
	}
	var cancel context.CancelFunc
	if d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
	} else {
		ctx, cancel = context.WithCancel(ctx)
		fmt.Fprintln(out, "Running until interrupted (Ctrl-C).")
	}
	defer cancel()
	traffic := make(chan struct{})
	go func() {
		defer close(traffic)
		demo.run(ctx)
	}()
	defer func() { cancel(); <-traffic }()
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	demo.dash.Close() // ends the streams, so Shutdown does not wait for them
	err = srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
