package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
)

// Append adds events to the end of streamID in one transaction (see
// store.EventStore). Payloads are encoded with the configured codec first; a
// payload that cannot be encoded fails the whole batch with an error naming
// the event and matching store.ErrEncode and codec.ErrEncode. A database
// failure matches store.ErrBackend. Cancelling ctx rolls the transaction
// back.
func (s *Store) Append(ctx context.Context, streamID string, events ...shared.Event) error {
	return s.append(ctx, streamID, store.AnyVersion, events)
}

// AppendExpected appends only if streamID is at expectedVersion (see
// store.EventStore). The check and the insert are one transaction under the
// position lock, so concurrent writers cannot both pass it.
func (s *Store) AppendExpected(ctx context.Context, streamID string, expectedVersion int64, events ...shared.Event) error {
	if err := store.CheckExpected(expectedVersion); err != nil {
		s.rejected.Add(1)
		return err
	}
	return s.append(ctx, streamID, expectedVersion, events)
}

// encoded is one event ready for the database, as columns.
type encoded struct {
	ids, types, dataTypes, metadata []string
	data                            [][]byte
	times                           []time.Time
}

func (s *Store) encode(events []shared.Event) (*encoded, error) {
	n := len(events)
	enc := &encoded{
		ids: make([]string, n), types: make([]string, n), dataTypes: make([]string, n),
		metadata: make([]string, n), data: make([][]byte, n), times: make([]time.Time, n),
	}
	for i, e := range events {
		payload, name, err := s.cfg.Registry.Encode(s.cfg.Codec, e.Data())
		if err != nil {
			return nil, fmt.Errorf("%w %q (%s): %w", store.ErrEncode, e.ID(), e.Type(), err)
		}
		meta := []byte("null")
		if md := e.Metadata(); md != nil {
			if meta, err = json.Marshal(md); err != nil {
				return nil, fmt.Errorf("%w %q (%s): metadata: %w", store.ErrEncode, e.ID(), e.Type(), err)
			}
		}
		enc.ids[i], enc.types[i], enc.dataTypes[i] = e.ID(), e.Type(), name
		enc.data[i], enc.metadata[i], enc.times[i] = payload, string(meta), e.Timestamp()
	}
	return enc, nil
}

func (s *Store) append(ctx context.Context, streamID string, expected int64, events []shared.Event) error {
	err := s.tryAppend(ctx, streamID, expected, events)
	if err != nil {
		s.rejected.Add(1)
		if errors.Is(err, store.ErrConcurrencyConflict) {
			s.conflicts.Add(1)
		}
	}
	return err
}

func (s *Store) tryAppend(ctx context.Context, streamID string, expected int64, events []shared.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckStreamID(streamID); err != nil {
		return err
	}
	if err := store.CheckEvents(events); err != nil {
		return err
	}
	enc, err := s.encode(events)
	if err != nil {
		return err
	}
	if !s.enter() {
		return store.ErrClosed
	}
	defer s.leave()

	if len(events) == 0 {
		if expected == store.AnyVersion {
			return nil
		}
		version, err := s.streamVersion(ctx, s.pool, streamID)
		if err != nil {
			return backendError("AppendExpected", err)
		}
		if version != expected {
			return &store.ConcurrencyError{StreamID: streamID, Expected: expected, Actual: version}
		}
		return nil
	}

	var last int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		last, err = s.appendTx(ctx, tx, streamID, expected, enc)
		return err
	})
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
	case errors.As(err, &pgErr) && pgErr.Code == uniqueViolation && pgErr.ConstraintName == versionKey:
		return s.conflict(context.WithoutCancel(ctx), streamID, expected)
	case errors.Is(err, store.ErrConcurrencyConflict):
		return err
	default:
		return backendError("Append", err)
	}
	s.appended.Add(int64(len(events)))
	s.seePosition(last)
	return nil
}

// appendTx writes one batch and returns the last position it took.
func (s *Store) appendTx(ctx context.Context, tx pgx.Tx, streamID string, expected int64, enc *encoded) (int64, error) {
	n := int64(len(enc.ids))
	// Take the position lock first: the stream's version read after it is
	// the latest committed one.
	b := &pgx.Batch{}
	b.Queue(`UPDATE `+s.t.position+` SET last = last + $1, stored_at = greatest(stored_at, clock_timestamp())
		RETURNING last, stored_at`, n)
	b.Queue(`SELECT version FROM `+s.t.streams+` WHERE stream_id = $1`, streamID)
	br := tx.SendBatch(ctx, b)
	var (
		last    int64
		at      time.Time
		version int64
	)
	if err := br.QueryRow().Scan(&last, &at); err != nil {
		br.Close()
		return 0, err
	}
	if err := br.QueryRow().Scan(&version); err != nil && !isNoRows(err) {
		br.Close()
		return 0, err
	}
	if err := br.Close(); err != nil {
		return 0, err
	}
	if expected != store.AnyVersion && expected != version {
		return 0, &store.ConcurrencyError{StreamID: streamID, Expected: expected, Actual: version}
	}

	positions, versions := make([]int64, n), make([]int64, n)
	for i := range n {
		positions[i], versions[i] = last-n+1+i, version+1+i
	}
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO `+s.t.events+` (position, stream_id, version, event_id, event_type, data_type,
			content_type, data, metadata, event_time, stored_at)
		SELECT p, $1, v, id, ty, dt, $2, d, m::jsonb, et, $3
		FROM unnest($4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::bytea[], $10::text[], $11::timestamptz[])
			AS x(p, v, id, ty, dt, d, m, et)`,
		streamID, s.cfg.Codec.ContentType(), at,
		positions, versions, enc.ids, enc.types, enc.dataTypes, enc.data, enc.metadata, enc.times)
	b.Queue(`INSERT INTO `+s.t.streams+` AS s (stream_id, version, first_version, created_at) VALUES ($1, $2, 1, $3)
		ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version`, streamID, version+n, at)
	b.Queue(`SELECT pg_notify($1, $2)`, s.t.channel, fmt.Sprint(last))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, err
	}
	return last, nil
}

// uniqueViolation is PostgreSQL's SQLSTATE for a broken UNIQUE constraint,
// and versionKey the name it gives UNIQUE (stream_id, version) of
// nova_events. (A row at a taken position breaks the primary key instead:
// that is no conflict of versions, and stays a store.ErrBackend error.)
const (
	uniqueViolation = "23505"
	versionKey      = "nova_events_stream_id_version_key"
)

// conflict builds the error of an append that broke UNIQUE (stream_id,
// version): a writer that does not take the position lock (another program,
// or a hand-written INSERT) took one of the versions while the append's
// transaction ran, and nothing of the append was written. The stream's
// actual version is the larger of what nova_streams says and the highest
// version in nova_events, since such a writer may not update nova_streams.
// If that cannot be read, the error still matches
// store.ErrConcurrencyConflict, and store.ErrBackend with the cause.
func (s *Store) conflict(ctx context.Context, streamID string, expected int64) error {
	var actual int64
	err := s.pool.QueryRow(ctx, `SELECT greatest(
			coalesce((SELECT version FROM `+s.t.streams+` WHERE stream_id = $1), 0),
			coalesce((SELECT max(version) FROM `+s.t.events+` WHERE stream_id = $1), 0))`,
		streamID).Scan(&actual)
	if err != nil {
		return fmt.Errorf("%w on stream %q: another writer took one of its versions, and reading its version failed: %w",
			store.ErrConcurrencyConflict, streamID, backendError("Append", err))
	}
	return &store.ConcurrencyError{StreamID: streamID, Expected: expected, Actual: actual}
}

// streamVersion returns the version of streamID, 0 if it does not exist.
func (s *Store) streamVersion(ctx context.Context, q querier, streamID string) (int64, error) {
	var version int64
	err := q.QueryRow(ctx, `SELECT version FROM `+s.t.streams+` WHERE stream_id = $1`, streamID).Scan(&version)
	if isNoRows(err) {
		return 0, nil
	}
	return version, err
}

// querier is what a pool and a transaction have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
