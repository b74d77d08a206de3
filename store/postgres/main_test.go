package postgres_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/store/postgres"
	"github.com/novaevents/nova/store/storetest"
)

const (
	defaultURL = "postgres://postgres@127.0.0.1:5432/test"
	startHint  = "start PostgreSQL with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)

var (
	poolOnce sync.Once
	pool     *pgxpool.Pool
	poolErr  error
	schemas  atomic.Int64
	registry = codec.NewRegistry()
)

func TestMain(m *testing.M) {
	if err := storetest.Register(registry); err != nil {
		panic(err)
	}
	code := m.Run()
	if pool != nil {
		pool.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func databaseURL() string {
	if u := os.Getenv("NOVA_POSTGRES_URL"); u != "" {
		return u
	}
	return defaultURL
}

// testPool returns the pool shared by the package's tests, or skips the test
// (fails it under NOVA_REQUIRE_SERVICES=1) when PostgreSQL is unreachable.
func testPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	poolOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p, err := pgxpool.New(ctx, databaseURL())
		if err == nil {
			if err = p.Ping(ctx); err != nil {
				p.Close()
			}
		}
		pool, poolErr = p, err
		if err != nil {
			pool = nil
		}
	})
	if poolErr != nil {
		msg := fmt.Sprintf("PostgreSQL unreachable at %s (%v); %s", databaseURL(), poolErr, startHint)
		if os.Getenv("NOVA_REQUIRE_SERVICES") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return pool
}

// newSchema returns a schema name unique to this test run, dropped with
// everything in it when the test ends. Parallel test processes and re-runs
// never share one.
func newSchema(tb testing.TB) string {
	tb.Helper()
	p := testPool(tb)
	name := fmt.Sprintf("nova_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, schemas.Add(1))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := p.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return name
}

// newStore opens a store in a fresh schema, with the suite's payload type
// registered.
func newStore(tb testing.TB, cfg postgres.Config) *postgres.Store {
	tb.Helper()
	p := testPool(tb)
	if cfg.Schema == "" {
		cfg.Schema = newSchema(tb)
	}
	if cfg.Registry == nil {
		cfg.Registry = registry
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := postgres.New(ctx, p, cfg)
	if err != nil {
		tb.Fatalf("postgres.New: %v", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}
