package pgbench

import (
	"context"
	"os"
	"strconv"

	"time"

	"github.com/novaevents/nova/internal/bench/benchkit"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store/postgres"
)

// PostgresAppendBatch appends batches of size events to one stream of a
// PostgreSQL store, each batch one transaction, and reports events/s. The
// database is NOVA_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/test); the benchmark skips when it is
// unreachable. It works in a schema of its own, dropped afterwards.
func PostgresAppendBatch(size int) benchkit.Body {
	return func(b benchkit.B) {
		ctx := context.Background()
		url := os.Getenv("NOVA_POSTGRES_URL")
		if url == "" {
			url = "postgres://postgres@127.0.0.1:5432/test"
		}
		pool, err := pgxpool.New(ctx, url)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = pool.Ping(pctx)
			cancel()
			if err != nil {
				pool.Close()
			}
		}
		if err != nil {
			b.Skipf("PostgreSQL unreachable at %s (set NOVA_POSTGRES_URL, or start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start): %v", url, err)
		}
		defer pool.Close()
		schema := "nova_bench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
		defer pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		st, err := postgres.New(ctx, pool, postgres.Config{Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		batch := make([]shared.Event, size)
		for i := range batch {
			batch[i] = shared.NewBaseEvent("e-"+strconv.Itoa(i), "bench.event", map[string]int{"n": i})
		}
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			if err := st.Append(ctx, "bench", batch...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N()*size)/time.Since(start).Seconds(), "events/s")
	}
}
