package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
	"github.com/novaevents/nova/store/postgres"
)

// demoStore keeps the demo's events, one stream per customer, in the
// embedded memory store or, with -postgres, in PostgreSQL.
type demoStore struct {
	st      store.EventStore
	kind    string
	run     string // stream-name suffix, so PostgreSQL keeps earlier runs apart
	mu      sync.Mutex
	failure error
}

func openDemoStore(ctx context.Context, dsn string) (*demoStore, error) {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	if dsn == "" {
		st := memory.New(memory.Config{MaxEventsPerStream: 10000, MaxStreams: 1000, RetentionDuration: time.Hour})
		return &demoStore{st: st, kind: "memory", run: run}, nil
	}
	reg := codec.NewRegistry()
	if err := codec.Register[Order](reg, "demo.order"); err != nil {
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := postgres.Open(octx, dsn, postgres.Config{Schema: "nova_demo", Registry: reg})
	if err != nil {
		return nil, fmt.Errorf("opening PostgreSQL store: %w", err)
	}
	return &demoStore{st: st, kind: "postgres", run: run}, nil
}

func (d *demoStore) stream(customer string) string { return "customer-" + customer + "-" + d.run }

// listener appends every order event it sees to its customer's stream.
func (d *demoStore) listener() shared.Listener {
	return shared.NewListener("event-store", func(ctx context.Context, e shared.Event) error {
		err := d.st.Append(ctx, d.stream(e.Metadata()["customer_id"]), e)
		if err != nil {
			d.mu.Lock()
			d.failure = err
			d.mu.Unlock()
		}
		return err
	})
}

func (d *demoStore) print(ctx context.Context, out io.Writer, customer string) error {
	d.mu.Lock()
	failure := d.failure
	d.mu.Unlock()
	if failure != nil {
		return fmt.Errorf("storing events: %w", failure)
	}
	recs, err := d.st.Read(ctx, d.stream(customer), store.FromStart, 0)
	if err != nil {
		return err
	}
	info, err := d.st.GetStreamInfo(ctx, d.stream(customer))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nEvent store (%s): stream %s, %d events, versions %d..%d\n",
		d.kind, d.stream(customer), info.EventCount, info.FirstVersion, info.LastVersion)
	for i, r := range recs {
		if i == 6 {
			fmt.Fprintf(out, "  … and %d more\n", len(recs)-6)
			break
		}
		o, ok := r.Data().(Order)
		total := "?"
		if ok {
			total = fmt.Sprintf("%.2f", o.Total)
		}
		fmt.Fprintf(out, "  v%-3d pos %-5d %-14s %-10s total %s\n", r.Version, r.Position, r.Type(), r.ID(), total)
	}
	return nil
}

func (d *demoStore) close() error { return d.st.Close() }
