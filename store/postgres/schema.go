package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// tables holds the quoted, schema-qualified names used in every statement.
type tables struct {
	schema   string // quoted
	events   string
	streams  string
	position string
	channel  string // NOTIFY channel, unquoted
}

func newTables(schema string) tables {
	q := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	channel := "nova_" + schema
	if len(channel) > 63 { // PostgreSQL truncates identifiers at 63 bytes
		h := fnv.New64a()
		h.Write([]byte(schema))
		channel = fmt.Sprintf("nova_%x", h.Sum64())
	}
	return tables{
		schema:   pgx.Identifier{schema}.Sanitize(),
		events:   q("nova_events"),
		streams:  q("nova_streams"),
		position: q("nova_position"),
		channel:  channel,
	}
}

// The schema. nova_position is a one-row table: the global position
// counter. Appends take its row lock for the length of their transaction,
// so positions are handed out in commit order and without gaps; a reader
// that has seen position p can never later see a smaller one appear. (A
// SEQUENCE would hand out numbers outside the transaction, and a reader
// could then skip an event whose transaction commits late.) Its stored_at
// only moves forward, which keeps StoredAt ordered along positions.
//
// nova_streams keeps every stream's version and oldest kept version, so
// that trimming never resets a version. UNIQUE (stream_id, version) on
// nova_events backs optimistic concurrency even against writers that do not
// take the position lock.
func (t tables) ddl() []string {
	r := strings.NewReplacer("{schema}", t.schema, "{events}", t.events, "{streams}", t.streams,
		"{position}", t.position)
	stmts := []string{
		`CREATE SCHEMA IF NOT EXISTS {schema}`,
		`CREATE TABLE IF NOT EXISTS {position} (
			id        boolean PRIMARY KEY DEFAULT true CHECK (id),
			last      bigint NOT NULL,
			stored_at timestamptz NOT NULL
		)`,
		`INSERT INTO {position} (id, last, stored_at) VALUES (true, 0, to_timestamp(0)) ON CONFLICT DO NOTHING`,
		`CREATE TABLE IF NOT EXISTS {streams} (
			stream_id     text PRIMARY KEY,
			version       bigint NOT NULL,
			first_version bigint NOT NULL,
			created_at    timestamptz NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS {events} (
			position     bigint PRIMARY KEY,
			stream_id    text NOT NULL,
			version      bigint NOT NULL,
			event_id     text NOT NULL,
			event_type   text NOT NULL,
			data_type    text NOT NULL,
			content_type text NOT NULL,
			data         bytea,
			metadata     jsonb,
			event_time   timestamptz NOT NULL,
			stored_at    timestamptz NOT NULL,
			UNIQUE (stream_id, version)
		)`,
		`CREATE INDEX IF NOT EXISTS nova_events_stored_at ON {events} (stored_at)`,
	}
	for i, s := range stmts {
		stmts[i] = r.Replace(s)
	}
	return stmts
}

// migrate creates the schema if it is missing. It is idempotent, and an
// advisory lock serialises stores that start at the same time.
func (s *Store) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "nova.store.migrate:"+s.t.schema); err != nil {
			return err
		}
		for _, stmt := range s.t.ddl() {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", strings.Fields(stmt)[0:3], err)
			}
		}
		return nil
	})
}
