package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/novaevents/nova/store"
)

// Trimming deletes rows and moves nova_streams.first_version forward in one
// transaction that holds the position lock, so it never interleaves with an
// append. Versions and positions of the remaining events do not change, and
// a stream keeps its version when all its events are deleted. PostgreSQL
// has no retention of its own here: run TrimBefore from a timer or a cron
// job (for example, TrimBefore(ctx, time.Now().Add(-30*24*time.Hour))).

// TrimStream deletes the events of streamID whose version is below before
// (see store.Trimmer). An unknown stream has nothing to trim.
func (s *Store) TrimStream(ctx context.Context, streamID string, before int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := store.CheckStreamID(streamID); err != nil {
		return 0, err
	}
	var n int64
	err := s.trim(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `WITH d AS (DELETE FROM `+s.t.events+` WHERE stream_id = $1 AND version < $2 RETURNING 1)
			SELECT count(*) FROM d`, streamID, before).Scan(&n); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE `+s.t.streams+` SET first_version = greatest(first_version, least($2, version + 1))
			WHERE stream_id = $1`, streamID, before)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.trimmed.Add(n)
	return n, nil
}

// TrimBefore deletes, in every stream, the events stored before t (see
// store.Trimmer). Because stored_at never decreases along positions, that is
// a prefix of the log, and of each stream.
func (s *Store) TrimBefore(ctx context.Context, t time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if t.IsZero() {
		return 0, nil
	}
	var n int64
	err := s.trim(ctx, func(tx pgx.Tx) error {
		var cutoff *int64
		if err := tx.QueryRow(ctx, `SELECT max(position) FROM `+s.t.events+` WHERE stored_at < $1`, t).Scan(&cutoff); err != nil || cutoff == nil {
			return err
		}
		return tx.QueryRow(ctx, `WITH d AS (DELETE FROM `+s.t.events+` WHERE position <= $1 RETURNING stream_id, version),
			m AS (SELECT stream_id, max(version) AS maxv, count(*) AS n FROM d GROUP BY stream_id),
			u AS (UPDATE `+s.t.streams+` st SET first_version = greatest(st.first_version, m.maxv + 1)
			      FROM m WHERE st.stream_id = m.stream_id)
			SELECT coalesce(sum(n), 0)::bigint FROM m`, *cutoff).Scan(&n)
	})
	if err != nil {
		return 0, err
	}
	s.trimmed.Add(n)
	return n, nil
}

func (s *Store) trim(ctx context.Context, f func(pgx.Tx) error) error {
	if !s.enter() {
		return store.ErrClosed
	}
	defer s.leave()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT last FROM `+s.t.position+` FOR UPDATE`); err != nil {
			return err
		}
		return f(tx)
	})
	return backendError("trimming", err)
}
