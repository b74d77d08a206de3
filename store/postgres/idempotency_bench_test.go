package postgres_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store/postgres"
)

// Run with (PostgreSQL on NOVA_POSTGRES_URL):
//
//	go test -run '^$' -bench 'Idempotency|ExactlyOnce' -benchmem -count 6 ./store/postgres/

// BenchmarkIdempotency measures what ExactlyOnce costs per event in
// PostgreSQL, one event at a time, against plain statements of the same
// shape in the same run:
//
//   - baseline=insert: one INSERT of the event's key (autocommit), the
//     least a durable record of an event can cost;
//   - claim+complete: what the bus does per new event with this store;
//   - baseline=tx-insert: a transaction that inserts one effect row;
//   - claim+transactional+complete: the whole of an ExactlyOnce delivery
//     whose handler writes one effect row in Transactional.
func BenchmarkIdempotency(b *testing.B) {
	ctx := context.Background()
	schema := newSchema(b)
	p := testPool(b)
	ids := newIdem(b, schema, postgres.IdempotencyConfig{})
	fx := newEffects(b, schema)
	plain := pgx.Identifier{schema, "bench_plain"}.Sanitize()
	if _, err := p.Exec(ctx, `CREATE TABLE `+plain+` (scope bytea, id bytea, PRIMARY KEY (scope, id))`); err != nil {
		b.Fatal(err)
	}
	var run atomic.Int64 // keeps keys unique across b.N rounds
	key := func(i int) string { return strconv.FormatInt(run.Load(), 10) + "-" + strconv.Itoa(i) }

	b.Run("baseline=insert", func(b *testing.B) {
		run.Add(1)
		b.ReportAllocs()
		for i := range b.N {
			if _, err := p.Exec(ctx, `INSERT INTO `+plain+` (scope, id) VALUES ($1, $2)`, []byte("bench"), []byte(key(i))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("claim+complete", func(b *testing.B) {
		run.Add(1)
		b.ReportAllocs()
		for i := range b.N {
			id := key(i)
			ok, err := ids.Claim(ctx, "bench", id)
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			if err := ids.Complete(ctx, "bench", id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=tx-insert", func(b *testing.B) {
		run.Add(1)
		b.ReportAllocs()
		for i := range b.N {
			err := pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO `+plain+` (scope, id) VALUES ($1, $2)`, []byte("tx"), []byte(key(i)))
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("claim+transactional+complete", func(b *testing.B) {
		run.Add(1)
		l := transactional(b, ids, "bench-fx", shared.NewListener("fx", func(ctx context.Context, e shared.Event) error {
			return fx.Write(ctx, e)
		}))
		b.ReportAllocs()
		for i := range b.N {
			id := key(i)
			ok, err := ids.Claim(ctx, "bench", id)
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			if err := l.Handle(ctx, event(id)); err != nil {
				b.Fatal(err)
			}
			if err := ids.Complete(ctx, "bench", id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBusExactlyOnce publishes b.N distinct events to an ExactlyOnce
// topic (4 partitions, MaxConcurrency 4, one publisher) and stops the clock
// when the last one has been handled, with the bus's in-memory
// idempotency store (the baseline) and with this one.
func BenchmarkBusExactlyOnce(b *testing.B) {
	schema := newSchema(b)
	for _, name := range []string{"memory", "postgres"} {
		b.Run("store="+name, func(b *testing.B) {
			var store bus.IdempotencyStore = bus.NewMemoryIdempotencyStore(0, 0)
			if name == "postgres" {
				store = newIdem(b, schema, postgres.IdempotencyConfig{})
			}
			bs := bus.New(bus.Config{})
			if err := bs.CreateTopic("bench", bus.TopicConfig{
				Partitions: 4, MaxConcurrency: 4, BufferSize: 1024,
				DeliveryMode: bus.ExactlyOnce, IdempotencyStore: store,
			}); err != nil {
				b.Fatal(err)
			}
			var handled atomic.Int64
			done := make(chan struct{})
			bs.Subscribe("bench", shared.NewBaseListener("bench", func(shared.Event) error {
				if handled.Add(1) == int64(b.N) {
					close(done)
				}
				return nil
			}))
			prefix := fmt.Sprint(b.N, "-", name, "-")
			evs := make([]shared.Event, b.N)
			for i := range evs {
				evs[i] = event(prefix + strconv.Itoa(i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, e := range evs {
				if err := bs.Publish(context.Background(), "bench", e); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			b.StopTimer()
			st := bs.Stats()
			b.ReportMetric(float64(st.DeadLettered+st.DuplicatesSuppressed)/float64(b.N), "drops/op")
			if err := bs.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}
