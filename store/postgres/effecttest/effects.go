// Package effecttest counts a handler's effects in PostgreSQL, for tests
// that show exactly-once effects across processes: a handler run through
// postgres.IdempotencyStore.Transactional writes one row per call with
// Table.Write, in its transaction, and the test counts rows and distinct
// events afterwards, in the database.
//
// The table has no unique constraint on purpose: an effect that happened
// twice shows as two rows. It starts no goroutine.
//
//	fx, err := effecttest.Create(ctx, pool, schema)
//	l, err := ids.Transactional("billing", shared.NewListener("billing", func(ctx context.Context, e shared.Event) error {
//		return fx.Write(ctx, e)
//	}))
//	...
//	n, err := fx.Count(ctx) // n.Rows == n.Events means once each
package effecttest

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store/postgres"
)

// ErrNoTx is returned by Write when ctx carries no Transactional transaction.
var ErrNoTx = errors.New("effecttest: no transaction in the handler's context")

// Table is a table of effects, nova_effects in a schema. It is safe for
// concurrent use.
type Table struct {
	pool *pgxpool.Pool
	name string // quoted, schema-qualified
}

// Counts is what a Table holds.
type Counts struct {
	Rows       int64 // effects written
	Events     int64 // distinct event IDs among them
	Duplicates int64 // Rows - Events: effects that happened more than once
}

// Create creates schema and its nova_effects table if they are missing, and
// returns the table. Processes that call it with the same schema share it.
func Create(ctx context.Context, pool *pgxpool.Pool, schema string) (*Table, error) {
	t := &Table{pool: pool, name: pgx.Identifier{schema, "nova_effects"}.Sanitize()}
	stmts := []string{
		`SELECT pg_advisory_xact_lock(hashtext('nova.effecttest:' || $1))`,
		`CREATE SCHEMA IF NOT EXISTS ` + pgx.Identifier{schema}.Sanitize(),
		`CREATE TABLE IF NOT EXISTS ` + t.name + ` (
			seq      bigserial PRIMARY KEY,
			event_id bytea NOT NULL,
			pid      integer NOT NULL,
			at       timestamptz NOT NULL DEFAULT clock_timestamp()
		)`,
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for i, s := range stmts {
			var args []any
			if i == 0 {
				args = []any{schema}
			}
			if _, err := tx.Exec(ctx, s, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("effecttest: creating %s: %w", t.name, err)
	}
	return t, nil
}

// Write records one effect of e, with this process's ID, in the
// transaction of the Transactional call ctx belongs to.
func (t *Table) Write(ctx context.Context, e shared.Event) error {
	tx, ok := postgres.TxFrom(ctx)
	if !ok {
		return ErrNoTx
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+t.name+` (event_id, pid) VALUES ($1, $2)`, []byte(e.ID()), os.Getpid())
	return err
}

// Count counts the committed effects.
func (t *Table) Count(ctx context.Context) (Counts, error) {
	var c Counts
	err := t.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT event_id) FROM `+t.name).Scan(&c.Rows, &c.Events)
	c.Duplicates = c.Rows - c.Events
	return c, err
}

// Repeated returns the event IDs with more than one effect, at most limit.
func (t *Table) Repeated(ctx context.Context, limit int) ([]string, error) {
	rows, err := t.pool.Query(ctx, `SELECT event_id FROM `+t.name+` GROUP BY event_id HAVING count(*) > 1 LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out, err
}
