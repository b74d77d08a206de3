package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/postgres"
	"github.com/novaevents/nova/store/storetest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func payloadEvent(id string, n int) shared.Event {
	return shared.NewBaseEventWithMetadata(id, "test.event", storetest.Payload{N: n, Text: id, Tags: []string{"x"}},
		map[string]string{"k": id})
}

func TestEventsSurviveARestart(t *testing.T) {
	ctx := testCtx(t)
	schema := newSchema(t)
	first := newStore(t, postgres.Config{Schema: schema})
	if err := first.Append(ctx, "s", payloadEvent("e1", 1), payloadEvent("e2", 2)); err != nil {
		t.Fatal(err)
	}
	if err := first.Append(ctx, "t", payloadEvent("e3", 3)); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := newStore(t, postgres.Config{Schema: schema})
	recs, err := second.Read(ctx, "s", store.FromStart, 0)
	if err != nil || len(recs) != 2 {
		t.Fatalf("Read after reopening = %d records, %v; want 2", len(recs), err)
	}
	if got, ok := recs[1].Data().(storetest.Payload); !ok || got.N != 2 {
		t.Errorf("Data = %#v, want storetest.Payload{N: 2}", recs[1].Data())
	}
	if err := second.AppendExpected(ctx, "s", 2, payloadEvent("e4", 4)); err != nil {
		t.Fatalf("AppendExpected(2) after reopening: %v", err)
	}
	all, err := second.ReadAll(ctx, store.FromStart, 0)
	if err != nil || len(all) != 4 || all[3].Position != 4 || all[3].Version != 3 {
		t.Errorf("ReadAll = %d records (last %+v), %v; want the new event at position 4, version 3", len(all), all[len(all)-1], err)
	}
}

func TestPayloadsComeBackAsTheirRegisteredType(t *testing.T) {
	ctx := testCtx(t)
	type unregistered struct{ A int }
	typed := newStore(t, postgres.Config{})
	generic := newStore(t, postgres.Config{Registry: codec.NewRegistry()})
	for _, st := range []*postgres.Store{typed, generic} {
		if err := st.Append(ctx, "s", payloadEvent("p", 7), shared.NewBaseEvent("u", "test.u", unregistered{A: 1}),
			shared.NewBaseEvent("n", "test.nil", nil)); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := typed.Read(ctx, "s", store.FromStart, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := (storetest.Payload{N: 7, Text: "p", Tags: []string{"x"}}); !reflect.DeepEqual(recs[0].Data(), want) {
		t.Errorf("registered payload = %#v, want %#v", recs[0].Data(), want)
	}
	if want := map[string]any{"A": float64(1)}; !reflect.DeepEqual(recs[1].Data(), want) {
		t.Errorf("unregistered payload = %#v, want the generic form %#v", recs[1].Data(), want)
	}
	if recs[2].Data() != nil {
		t.Errorf("nil payload = %#v, want nil", recs[2].Data())
	}
	recs, err = generic.Read(ctx, "s", store.FromStart, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := recs[0].Data().(map[string]any); !ok {
		t.Errorf("without the registration, payload = %T, want map[string]any", recs[0].Data())
	}
}

func TestAnUndecodablePayloadIsAnErrorNamingTheEvent(t *testing.T) {
	ctx := testCtx(t)
	schema := newSchema(t)
	st := newStore(t, postgres.Config{Schema: schema})
	if err := st.Append(ctx, "s", payloadEvent("ok-1", 1), payloadEvent("bad", 2), payloadEvent("ok-3", 3)); err != nil {
		t.Fatal(err)
	}
	sub, err := st.Subscribe(ctx, "s", store.FromStart)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := testPool(t).Exec(ctx, `UPDATE `+pgx.Identifier{schema, "nova_events"}.Sanitize()+
		` SET data = 'not json' WHERE event_id = 'bad'`); err != nil {
		t.Fatal(err)
	}

	recs, err := st.Read(ctx, "s", store.FromStart, 0)
	var de *store.DecodeError
	if !errors.As(err, &de) || !errors.Is(err, store.ErrDecode) || !errors.Is(err, codec.ErrDecode) {
		t.Fatalf("Read = %v, want a *store.DecodeError", err)
	}
	if de.EventID != "bad" || de.StreamID != "s" || de.Version != 2 || string(de.Payload) != "not json" {
		t.Errorf("DecodeError = %+v, want event bad at s version 2 with its payload", de)
	}
	if len(recs) != 1 || recs[0].ID() != "ok-1" {
		t.Errorf("Read returned %d records before the error, want ok-1", len(recs))
	}

	// A subscription reports the bad event once, in its place, and goes on.
	var got []string
	for range 3 {
		r, err := sub.Next(ctx)
		switch {
		case errors.As(err, &de):
			got = append(got, "error:"+de.EventID)
		case err != nil:
			t.Fatalf("Next: %v", err)
		default:
			got = append(got, r.ID())
		}
	}
	if want := []string{"ok-1", "error:bad", "ok-3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("subscription gave %v, want %v", got, want)
	}
}

// Several Store values on one schema are several processes: positions stay
// gap-free and in commit order across them, and a subscriber on a third one
// gets every event once, in order.
func TestStoresSharingASchemaKeepOneOrder(t *testing.T) {
	ctx := testCtx(t)
	schema := newSchema(t)
	writers := []*postgres.Store{newStore(t, postgres.Config{Schema: schema}), newStore(t, postgres.Config{Schema: schema})}
	reader := newStore(t, postgres.Config{Schema: schema, PollInterval: time.Minute})
	sub, err := reader.Subscribe(ctx, store.AllStreams, store.FromStart)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const perWriter, batch = 60, 3
	var wg sync.WaitGroup
	for w, st := range writers {
		for g := range 2 {
			wg.Go(func() {
				for i := range perWriter / batch / 2 {
					evs := make([]shared.Event, batch)
					for j := range evs {
						evs[j] = payloadEvent(fmt.Sprintf("w%d-g%d-%d-%d", w, g, i, j), j)
					}
					if err := st.Append(ctx, fmt.Sprintf("s%d", (w+g+i)%4), evs...); err != nil {
						t.Errorf("Append: %v", err)
						return
					}
				}
			})
		}
	}
	seen := map[string]bool{}
	for want := int64(1); want <= 2*perWriter; want++ {
		r, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next at position %d: %v", want, err)
		}
		if r.Position != want || seen[r.ID()] {
			t.Fatalf("got %s at position %d, want position %d and no repeat", r.ID(), r.Position, want)
		}
		seen[r.ID()] = true
	}
	wg.Wait()
}

// logSignal is a slog.Handler that sends the message of every record to a
// buffered channel, so that a test can wait for what the store logs. It
// never blocks the store: a message that finds the buffer full is dropped.
type logSignal chan string

func (l logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (l logSignal) Handle(_ context.Context, r slog.Record) error {
	select {
	case l <- r.Message:
	default:
	}
	return nil
}
func (l logSignal) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logSignal) WithGroup(string) slog.Handler      { return l }

// waitFor reads messages until one contains want.
func (l logSignal) waitFor(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	for {
		select {
		case msg := <-l:
			if strings.Contains(msg, want) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("the store never logged %q: %v", want, ctx.Err())
		}
	}
}

// Losing the LISTEN connection loses notifications, never events: the
// store reconnects and subscribers read again. PollInterval is a minute, so
// the events can only arrive through the new LISTEN connection.
func TestSubscriptionsSurviveALostListenConnection(t *testing.T) {
	ctx := testCtx(t)
	schema := newSchema(t)
	logs := make(logSignal, 16)
	st := newStore(t, postgres.Config{Schema: schema, PollInterval: time.Minute, Logger: slog.New(logs)})
	sub, err := st.Subscribe(ctx, "s", store.FromStart)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := st.Append(ctx, "s", payloadEvent("before", 1)); err != nil {
		t.Fatal(err)
	}
	if r, err := sub.Next(ctx); err != nil || r.ID() != "before" {
		t.Fatalf("Next = %v, %v", r, err)
	}

	var killed int
	err = testPool(t).QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query LIKE 'LISTEN %' AND query LIKE '%' || $1 || '%'`, schema).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminating the LISTEN backend: %d killed, %v", killed, err)
	}
	// The store logs the loss, and then that it listens again on a new
	// connection. Every event below is appended after that: without the
	// reconnection none would arrive before the poll, a minute away, past
	// the test's deadline.
	logs.waitFor(t, ctx, "LISTEN connection lost")
	logs.waitFor(t, ctx, "LISTEN connection back")
	got := make(chan store.Record)
	go func() {
		defer close(got)
		for range 5 {
			r, err := sub.Next(ctx)
			if err != nil {
				t.Errorf("Next after the connection loss: %v", err)
				return
			}
			got <- r
		}
	}()
	for i := range 5 {
		if err := st.Append(ctx, "s", payloadEvent(fmt.Sprintf("after-%d", i), i)); err != nil {
			t.Fatal(err)
		}
		if r, ok := <-got; !ok || r.Version != int64(2+i) {
			t.Fatalf("received %v (ok %v), want version %d", r.Version, ok, 2+i)
		}
	}
}

func TestNewAndOpenRefuseWhatTheyCannotUse(t *testing.T) {
	ctx := testCtx(t)
	if _, err := postgres.New(ctx, nil, postgres.Config{}); !errors.Is(err, postgres.ErrConfig) {
		t.Errorf("New(nil pool) = %v, want ErrConfig", err)
	}
	if _, err := postgres.Open(ctx, "postgres://%zz", postgres.Config{}); !errors.Is(err, postgres.ErrConfig) {
		t.Errorf("Open(bad DSN) = %v, want ErrConfig", err)
	}
	// An empty DSN would connect wherever libpq's defaults point.
	var ce *postgres.ConfigError
	if _, err := postgres.Open(ctx, "  ", postgres.Config{}); !errors.As(err, &ce) || ce.Field != "dsn" {
		t.Errorf("Open(empty DSN) = %v, want a *ConfigError for the dsn", err)
	}
	for name, cfg := range map[string]postgres.Config{"ReadBatch": {ReadBatch: -1}, "PollInterval": {PollInterval: -time.Second}} {
		if _, err := postgres.New(ctx, testPool(t), cfg); !errors.As(err, &ce) || ce.Field != "Config."+name {
			t.Errorf("New with a negative %s = %v, want a *ConfigError", name, err)
		}
	}
}

func TestOpenOwnsItsPool(t *testing.T) {
	ctx := testCtx(t)
	testPool(t) // skips without PostgreSQL
	st, err := postgres.Open(ctx, databaseURL(), postgres.Config{Schema: newSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Append(ctx, "s", payloadEvent("e", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Subscribe(ctx, "s", store.FromStart); err != nil { // starts the LISTEN goroutine
		t.Fatal(err)
	}
	if err := st.Close(); err != nil { // closes the pool and the listener: goleak checks
		t.Fatal(err)
	}
	if err := st.Append(ctx, "s", payloadEvent("late", 2)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
}
