package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/postgres"
)

// ownPool returns a pool of the test's own, closed when the test ends (or
// earlier, by the test).
func ownPool(t *testing.T, ctx context.Context, configure func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	testPool(t) // skips without PostgreSQL
	cfg, err := pgxpool.ParseConfig(databaseURL())
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(cfg)
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestDatabaseFailuresMatchErrBackendAndKeepTheirCause(t *testing.T) {
	ctx := testCtx(t)
	schema := newSchema(t)
	p := ownPool(t, ctx, nil)
	st, err := postgres.New(ctx, p, postgres.Config{Schema: schema, Registry: registry})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Append(ctx, "s", payloadEvent("e1", 1)); err != nil {
		t.Fatal(err)
	}
	sub, err := st.Subscribe(ctx, store.AllStreams, store.FromStart)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	// A failing statement: the error is a *pgconn.PgError underneath.
	if _, err := testPool(t).Exec(ctx, `DROP TABLE `+pgx.Identifier{schema, "nova_streams"}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	_, err = st.Read(ctx, "s", store.FromStart, 0)
	var pgErr *pgconn.PgError
	if !errors.Is(err, store.ErrBackend) || !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
		t.Errorf("Read of a dropped table = %v, want an error matching store.ErrBackend and the *pgconn.PgError (42P01)", err)
	}

	// A pool that can no longer connect: every call says so.
	p.Close()
	tr := store.Trimmer(st)
	calls := map[string]func() error{
		"Append":         func() error { return st.Append(ctx, "s", payloadEvent("e2", 2)) },
		"AppendExpected": func() error { return st.AppendExpected(ctx, "s", 1) },
		"Read":           func() error { _, err := st.Read(ctx, "s", store.FromStart, 0); return err },
		"ReadAll":        func() error { _, err := st.ReadAll(ctx, store.FromStart, 0); return err },
		"ReadTimeRange":  func() error { _, err := st.ReadTimeRange(ctx, time.Time{}, time.Time{}, 0); return err },
		"Replay": func() error {
			return st.Replay(ctx, time.Time{}, time.Time{}, func(store.Record) error { return nil })
		},
		"Subscribe":     func() error { _, err := st.Subscribe(ctx, "s", store.FromStart); return err },
		"Next":          func() error { _, err := sub.Next(ctx); return err },
		"GetStreams":    func() error { _, err := st.GetStreams(ctx); return err },
		"GetStreamInfo": func() error { _, err := st.GetStreamInfo(ctx, "s"); return err },
		"TrimStream":    func() error { _, err := tr.TrimStream(ctx, "s", 2); return err },
		"TrimBefore":    func() error { _, err := tr.TrimBefore(ctx, time.Now()); return err },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, store.ErrBackend) || errors.Is(err, store.ErrClosed) {
			t.Errorf("%s on a closed pool = %v, want an error matching store.ErrBackend (and not ErrClosed)", name, err)
		}
	}
}

func TestAPayloadThatCannotBeEncodedWritesNothing(t *testing.T) {
	ctx := testCtx(t)
	st := newStore(t, postgres.Config{})
	err := st.Append(ctx, "s", payloadEvent("ok", 1), shared.NewBaseEvent("chan", "test.bad", make(chan int)))
	if !errors.Is(err, store.ErrEncode) || !errors.Is(err, codec.ErrEncode) {
		t.Fatalf("Append = %v, want an error matching store.ErrEncode and codec.ErrEncode", err)
	}
	if recs, _ := st.ReadAll(ctx, store.FromStart, 0); len(recs) != 0 {
		t.Errorf("the refused batch wrote %d events", len(recs))
	}
	if got := st.Stats().AppendsRejected; got != 1 {
		t.Errorf("AppendsRejected = %d, want 1", got)
	}
}

// insertBehindTheStore writes an event row straight into the table, as a
// writer that takes neither the position lock nor nova_streams into account
// would.
func insertBehindTheStore(t *testing.T, ctx context.Context, schema, streamID string, position, version int64) {
	t.Helper()
	_, err := testPool(t).Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, "nova_events"}.Sanitize()+`
		(position, stream_id, version, event_id, event_type, data_type, content_type, data, metadata, event_time, stored_at)
		VALUES ($1, $2, $3, 'rogue', 'test.rogue', '', 'application/json', 'null', 'null', now(), now())`,
		position, streamID, version)
	if err != nil {
		t.Fatal(err)
	}
}

// UNIQUE (stream_id, version) stops a writer that races the store without
// its position lock; the store reports that as a conflict, with the version
// the other writer took.
func TestAVersionTakenBehindTheStoresBackIsAConcurrencyError(t *testing.T) {
	ctx := testCtx(t)
	schema := newSchema(t)
	st := newStore(t, postgres.Config{Schema: schema})
	if err := st.Append(ctx, "s", payloadEvent("s-1", 1), payloadEvent("s-2", 2)); err != nil {
		t.Fatal(err)
	}
	insertBehindTheStore(t, ctx, schema, "s", 1000, 3)

	err := st.AppendExpected(ctx, "s", 2, payloadEvent("s-3", 3))
	var ce *store.ConcurrencyError
	if !errors.As(err, &ce) || ce.StreamID != "s" || ce.Expected != 2 || ce.Actual != 3 {
		t.Fatalf("AppendExpected(2) = %v, want a *store.ConcurrencyError: expected 2, actual 3", err)
	}
	if stats := st.Stats(); stats.ConcurrencyConflicts != 1 || stats.AppendsRejected != 1 {
		t.Errorf("Stats = %+v; want 1 conflict, 1 rejected append", stats)
	}
	recs, err := st.Read(ctx, "s", store.FromStart, 0)
	var got []string
	for _, r := range recs {
		got = append(got, r.ID())
	}
	if err != nil || !slices.Equal(got, []string{"s-1", "s-2", "rogue"}) {
		t.Errorf("Read = %v, %v; want s-1 s-2 rogue: the refused append wrote nothing", got, err)
	}
	info, err := st.GetStreamInfo(ctx, "s")
	if err != nil || info.LastVersion != 2 {
		t.Errorf("GetStreamInfo = %+v, %v; want the stream still at version 2 in nova_streams", info, err)
	}
}

// A row written behind the store at the next position breaks the primary
// key, not the versions: that is a failure of the database's contents, not a
// conflict to retry.
func TestAPositionTakenBehindTheStoresBackIsABackendError(t *testing.T) {
	ctx := testCtx(t)
	schema := newSchema(t)
	st := newStore(t, postgres.Config{Schema: schema})
	if err := st.Append(ctx, "s", payloadEvent("s-1", 1)); err != nil {
		t.Fatal(err)
	}
	insertBehindTheStore(t, ctx, schema, "other", 2, 1) // the next position

	err := st.Append(ctx, "s", payloadEvent("s-2", 2))
	var pgErr *pgconn.PgError
	if !errors.Is(err, store.ErrBackend) || errors.Is(err, store.ErrConcurrencyConflict) ||
		!errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Errorf("Append = %v, want an error matching store.ErrBackend and the unique violation, and no conflict", err)
	}
}

// When the version cannot be read after such a conflict, the error still
// says "conflict", and says why the version is missing. The store's only
// connection runs as a role that may write nova_events but not read it.
func TestAConflictWhoseVersionCannotBeReadStillMatchesBoth(t *testing.T) {
	ctx := testCtx(t)
	schema := newSchema(t)
	role := fmt.Sprintf("nova_test_writer_%d_%d", os.Getpid(), schemas.Add(1))
	admin := testPool(t)
	p := ownPool(t, ctx, func(c *pgxpool.Config) { c.MaxConns = 1 })
	st, err := postgres.New(ctx, p, postgres.Config{Schema: schema, Registry: registry})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Append(ctx, "s", payloadEvent("s-1", 1)); err != nil {
		t.Fatal(err)
	}
	quoted := pgx.Identifier{role}.Sanitize()
	q := func(table string) string { return pgx.Identifier{schema, table}.Sanitize() }
	for _, stmt := range []string{
		`CREATE ROLE ` + quoted + ` NOLOGIN`,
		`GRANT USAGE ON SCHEMA ` + pgx.Identifier{schema}.Sanitize() + ` TO ` + quoted,
		`GRANT SELECT, UPDATE ON ` + q("nova_position") + ` TO ` + quoted,
		`GRANT SELECT, INSERT, UPDATE ON ` + q("nova_streams") + ` TO ` + quoted,
		`GRANT INSERT ON ` + q("nova_events") + ` TO ` + quoted,
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		p.Close() // its session has the role set
		ctx := context.Background()
		for _, stmt := range []string{`DROP OWNED BY ` + quoted, `DROP ROLE ` + quoted} {
			if _, err := admin.Exec(ctx, stmt); err != nil {
				t.Errorf("%s: %v", stmt, err)
			}
		}
	})
	if _, err := p.Exec(ctx, `SET ROLE `+quoted); err != nil { // the pool's only connection
		t.Fatal(err)
	}
	insertBehindTheStore(t, ctx, schema, "s", 1000, 2)

	err = st.AppendExpected(ctx, "s", 1, payloadEvent("s-2", 2))
	var pgErr *pgconn.PgError
	if !errors.Is(err, store.ErrConcurrencyConflict) || !errors.Is(err, store.ErrBackend) ||
		!errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("AppendExpected = %v, want an error matching store.ErrConcurrencyConflict, store.ErrBackend "+
			"and the permission error (42501) of reading the version", err)
	}
	if got := st.Stats().ConcurrencyConflicts; got != 1 {
		t.Errorf("ConcurrencyConflicts = %d, want 1", got)
	}
}
