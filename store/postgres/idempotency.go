package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of IdempotencyConfig.
const (
	DefaultClaimTTL      = 5 * time.Minute
	DefaultRetention     = 24 * time.Hour
	DefaultPurgeInterval = time.Minute
	DefaultHeldClaimWait = 2 * time.Second

	// MaxIdempotencyKey is the longest scope, and the longest event ID, the
	// IdempotencyStore takes, in bytes; both go into one B-tree key.
	MaxIdempotencyKey = 1024
)

// How often Claim looks again at a claim another live holder has.
const (
	minHeldPoll = 5 * time.Millisecond
	maxHeldPoll = 100 * time.Millisecond
)

// purgeBatch is how many expired records one purge statement deletes.
const purgeBatch = 1000

// IdempotencyConfig configures an IdempotencyStore. Its zero value works.
type IdempotencyConfig struct {
	// Schema is the PostgreSQL schema that holds the table nova_idempotency;
	// the store creates both if they are missing. Default "nova", which an
	// event store with the default Config shares without conflict.
	Schema string

	// ClaimTTL is how long a claim holds when its holder is alive but does
	// not finish: after it, the event can be claimed again. A claim whose
	// holder's process has died (its lease connection closed) can be taken
	// over at once. Taking over a live holder's claim only costs a second
	// call of the handler: Transactional still records its effects once.
	// Default 5m.
	ClaimTTL time.Duration

	// Retention is how long a completed event is remembered, that is, how
	// long copies of it are suppressed. Size it above the longest time a
	// broker may redeliver an event (a consumer group down for a weekend
	// keeps its queue). Default 24h.
	Retention time.Duration

	// HeldClaimWait is how long Claim waits when another live holder has
	// the event claimed, for it to complete (Claim then returns false),
	// give up, die or expire (Claim then takes the event). If the claim is
	// still held after it, Claim returns an error matching ErrClaimHeld
	// rather than false: the bus then retries the delivery later (and
	// dead-letters it if that never works), where false would drop a copy
	// that may be the only one left, if the holder's process is dead but
	// PostgreSQL has not noticed yet. Default 2s; negative: do not wait.
	HeldClaimWait time.Duration

	// PurgeInterval is how often the store deletes expired records; a
	// negative value disables it (call Purge yourself). Default 1m.
	PurgeInterval time.Duration

	// Logger receives the lease connection's losses and purge failures.
	// Default: slog.Default().
	Logger *slog.Logger
}

func (c IdempotencyConfig) withDefaults() (IdempotencyConfig, error) {
	if c.ClaimTTL < 0 || c.Retention < 0 {
		return c, configError("IdempotencyConfig.ClaimTTL", "negative ClaimTTL or Retention")
	}
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.ClaimTTL == 0 {
		c.ClaimTTL = DefaultClaimTTL
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.HeldClaimWait == 0 {
		c.HeldClaimWait = DefaultHeldClaimWait
	}
	if c.PurgeInterval == 0 {
		c.PurgeInterval = DefaultPurgeInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// IdempotencyStore is a bus.IdempotencyStore on PostgreSQL, shared by every
// process that uses the same database and schema. It is safe for concurrent
// use by any number of goroutines and processes.
//
// Each (scope, event ID) has at most one row in nova_idempotency: a claim
// (an event being handled, with its holder and an expiry ClaimTTL ahead) or
// a completion (handled, remembered for Retention). Scopes and IDs are
// stored as bytes, exactly: a NUL byte (the bus separates topic and
// consumer with one) or invalid UTF-8 is kept, never mangled.
//
// Every store value is a holder with a random 63-bit ID, and holds a
// session advisory lock on that ID on a dedicated connection (its lease)
// for as long as it is open. PostgreSQL drops the lock when the connection
// closes, which it notices as soon as the holder's process dies: from then
// on any other store may take the dead holder's claims over, without
// waiting for ClaimTTL.
//
// The lease needs a real session: behind a pooler in transaction mode
// (PgBouncer's pool_mode=transaction) advisory locks do not hold, so
// point the pool at PostgreSQL itself, or at a session-mode pool.
//
// Costs: Claim of a new event is one INSERT; of a known one, a second
// statement, and Claim of an event another live holder has waits up to
// HeldClaimWait, polling. Complete and Release are one statement each. The store keeps
// one connection outside the pool (the lease) and starts two goroutines:
// one that watches the lease and reconnects it with backoff, and one that
// deletes expired records every PurgeInterval. Close stops both.
type IdempotencyStore struct {
	cfg   IdempotencyConfig
	pool  *pgxpool.Pool
	table string // quoted, schema-qualified
	owner int64

	// offset is added to the database's clock in every statement; only
	// tests set it, to expire claims without waiting.
	offset atomic.Int64 // microseconds

	claimed, refused, held, takenOver, completed, released, committed, skipped atomic.Int64

	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup

	stop context.CancelFunc
	done sync.WaitGroup
}

// NewIdempotencyStore returns an idempotency store on pool, creating its
// schema and table if they are missing, and takes its lease (see
// IdempotencyStore). The pool stays the caller's: Close does not close it.
// It returns an error matching ErrConfig for a nil pool or a negative
// duration, and one matching ErrBackend if the database cannot be used.
func NewIdempotencyStore(ctx context.Context, pool *pgxpool.Pool, cfg IdempotencyConfig) (*IdempotencyStore, error) {
	if pool == nil {
		return nil, configError("pool", "nil")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &IdempotencyStore{
		cfg:   cfg,
		pool:  pool,
		table: pgx.Identifier{cfg.Schema, "nova_idempotency"}.Sanitize(),
		owner: rand.Int64(),
	}
	if err := s.migrate(ctx); err != nil {
		return nil, backendError("creating table "+s.table, err)
	}
	conn, err := s.connectLease(ctx)
	if err != nil {
		return nil, backendError("taking the lease", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.done.Add(1)
	go s.keepLease(runCtx, conn)
	if cfg.PurgeInterval > 0 {
		s.done.Add(1)
		go s.purgeEvery(runCtx, cfg.PurgeInterval)
	}
	return s, nil
}

func (s *IdempotencyStore) migrate(ctx context.Context) error {
	schema := pgx.Identifier{s.cfg.Schema}.Sanitize()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		stmts := []string{
			`SELECT pg_advisory_xact_lock(hashtext('nova.idempotency.migrate:' || $1))`,
			`CREATE SCHEMA IF NOT EXISTS ` + schema,
			`CREATE TABLE IF NOT EXISTS ` + s.table + ` (
				scope      bytea NOT NULL,
				id         bytea NOT NULL,
				done       boolean NOT NULL,
				owner      bigint NOT NULL,
				expires_at timestamptz NOT NULL,
				PRIMARY KEY (scope, id)
			)`,
			`CREATE INDEX IF NOT EXISTS nova_idempotency_expires_at ON ` + s.table + ` (expires_at)`,
		}
		for i, stmt := range stmts {
			var args []any
			if i == 0 {
				args = []any{s.cfg.Schema}
			}
			if _, err := tx.Exec(ctx, stmt, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// connectLease opens the lease connection and takes the holder's lock.
func (s *IdempotencyStore) connectLease(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, s.owner); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// keepLease is the lease goroutine: it waits on the lease connection (which
// reports its loss at once) and reconnects it with backoff. While it is
// lost, other stores see this one's claims as abandoned.
func (s *IdempotencyStore) keepLease(ctx context.Context, conn *pgx.Conn) {
	defer s.done.Done()
	delay := minReconnectDelay
	for {
		_, err := conn.WaitForNotification(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			// Close: give the lease back before returning, so that other
			// stores can take this one's claims as soon as Close returns.
			// (If the connection is unusable now, its session's end frees
			// the lock a moment later.)
			uctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, s.owner)
			conn.Close(uctx)
			cancel()
			return
		}
		conn.Close(context.Background())
		s.cfg.Logger.Warn("nova idempotency: lease connection lost; its claims can be taken over until it is back",
			"table", s.table, "error", err)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, maxReconnectDelay)
			if conn, err = s.connectLease(ctx); err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
		}
		delay = minReconnectDelay
		s.cfg.Logger.Info("nova idempotency: lease connection back", "table", s.table)
	}
}

// purgeEvery is the purge goroutine.
func (s *IdempotencyStore) purgeEvery(ctx context.Context, every time.Duration) {
	defer s.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Purge(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed) {
			s.cfg.Logger.Warn("nova idempotency: purging expired records failed", "table", s.table, "error", err)
		}
	}
}

// Close refuses new calls with ErrClosed, waits for the calls in progress,
// stops the store's goroutines and closes its lease connection. Its claims
// stay in the table and, the lease gone, any other store may take them
// over. Closing twice returns nil.
func (s *IdempotencyStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	s.stop()
	s.done.Wait()
	return nil
}

func (s *IdempotencyStore) enter() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.inflight.Add(1)
	return nil
}

func (s *IdempotencyStore) leave() { s.inflight.Done() }

// Holder returns this store's holder ID, the owner column of its claims.
func (s *IdempotencyStore) Holder() int64 { return s.owner }

// checkKey validates a scope and an event ID.
func checkKey(scope, id string) error {
	switch {
	case scope == "":
		return fmt.Errorf("%w: empty idempotency scope", ErrInvalidArgument)
	case id == "":
		return fmt.Errorf("%w: empty event ID", ErrInvalidArgument)
	case len(scope) > MaxIdempotencyKey:
		return fmt.Errorf("%w: idempotency scope of %d bytes (at most %d)", ErrInvalidArgument, len(scope), MaxIdempotencyKey)
	case len(id) > MaxIdempotencyKey:
		return fmt.Errorf("%w: event ID of %d bytes (at most %d)", ErrInvalidArgument, len(id), MaxIdempotencyKey)
	}
	return nil
}

// begin validates a call's arguments and registers it.
func (s *IdempotencyStore) begin(ctx context.Context, scope, id string) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	if err := checkKey(scope, id); err != nil {
		return err
	}
	return s.enter()
}

// The statements. $1 scope, $2 id, $3 holder, $4 the clock offset and $5
// a duration, both in microseconds. The clock is the database's, so that
// processes whose clocks disagree still agree on expiry.
const (
	nowSQL = `(now() + $4 * interval '1 microsecond')`

	// asyncCommitSQL, scanned as a table, turns synchronous_commit off for
	// the statement's own transaction. Claims and releases commit without
	// waiting for their WAL flush: if PostgreSQL crashes before the flush,
	// the claim is lost, which changes nothing, since the crash ends every
	// session, so every holder's lease, and makes every claim up for
	// taking over anyway. Completions and Transactional commits keep the
	// server's setting: they are the records that must survive.
	asyncCommitSQL = `(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`

	claimInsertSQL = `INSERT INTO %[1]s (scope, id, done, owner, expires_at)
		SELECT $1, $2, false, $3, ` + nowSQL + ` + $5 * interval '1 microsecond' FROM ` + asyncCommitSQL + `
		ON CONFLICT (scope, id) DO NOTHING RETURNING true`

	// claimTakeSQL takes over a record that has expired, or a claim whose
	// holder's lease is gone (its advisory lock can be had), unless a
	// transaction holds its row. It
	// reports whether it took the record, whether a record existed, and
	// whether that was another holder's claim (a live one, then).
	claimTakeSQL = `WITH c AS (
			SELECT scope, id FROM %[1]s
			WHERE scope = $1 AND id = $2
			  AND (expires_at <= ` + nowSQL + `
			       OR (NOT done AND owner <> $3 AND pg_try_advisory_xact_lock_shared(owner)))
			FOR UPDATE SKIP LOCKED
		), u AS (
			UPDATE %[1]s t SET done = false, owner = $3,
				expires_at = ` + nowSQL + ` + $5 * interval '1 microsecond'
			FROM c, ` + asyncCommitSQL + ` WHERE t.scope = c.scope AND t.id = c.id
			RETURNING true
		)
		SELECT EXISTS (SELECT 1 FROM u),
			EXISTS (SELECT 1 FROM %[1]s WHERE scope = $1 AND id = $2),
			EXISTS (SELECT 1 FROM %[1]s WHERE scope = $1 AND id = $2 AND NOT done AND owner <> $3)`

	completeSQL = `INSERT INTO %[1]s (scope, id, done, owner, expires_at)
		VALUES ($1, $2, true, $3, ` + nowSQL + ` + $5 * interval '1 microsecond')
		ON CONFLICT (scope, id) DO UPDATE SET done = true, expires_at = EXCLUDED.expires_at`

	// Only the holder's own claim goes; a completion never does.
	releaseSQL = `DELETE FROM %[1]s USING ` + asyncCommitSQL + `
		WHERE scope = $1 AND id = $2 AND owner = $3 AND NOT done`

	purgeSQL = `DELETE FROM %[1]s WHERE ctid = ANY (ARRAY(
		SELECT ctid FROM %[1]s WHERE expires_at <= (now() + $1 * interval '1 microsecond')
		LIMIT $2 FOR UPDATE SKIP LOCKED))`
)

func (s *IdempotencyStore) sql(q string) string { return fmt.Sprintf(q, s.table) }

func (s *IdempotencyStore) args(scope, id string, d time.Duration) []any {
	return []any{[]byte(scope), []byte(id), s.owner, s.offset.Load(), d.Microseconds()}
}

// Claim implements bus.IdempotencyStore: it records that this store's
// holder is handling id in scope. It returns true for a new event, an
// expired record (a claim past ClaimTTL, a completion past Retention), and
// the claim of a holder whose process died (its lease is gone). It returns
// false if id is completed in scope, or claimed by this same holder (a
// copy arriving while the first is handled, in this process). If another
// live holder has it claimed, Claim waits up to HeldClaimWait for that to
// change, and then returns an error matching ErrClaimHeld (see
// HeldClaimWait). Of any number of concurrent claims of one ID, by any
// processes, at most one returns true.
//
// Other errors: ErrInvalidArgument for an empty or overlong scope or id,
// ErrClosed after Close, ErrBackend (with the cause) if the database fails,
// the context's error if ctx ends. Nothing is recorded then.
func (s *IdempotencyStore) Claim(ctx context.Context, scope, id string) (bool, error) {
	if err := s.begin(ctx, scope, id); err != nil {
		return false, err
	}
	defer s.leave()
	args := s.args(scope, id, s.cfg.ClaimTTL)
	var deadline time.Time
	delay := minHeldPoll
	for gone := 0; ; {
		st, err := s.claimOnce(ctx, args)
		if err != nil {
			return false, backendError("claiming", err)
		}
		switch st {
		case claimTaken:
			s.claimed.Add(1)
			return true, nil
		case claimTakenOver:
			s.claimed.Add(1)
			s.takenOver.Add(1)
			return true, nil
		case claimRefused:
			s.refused.Add(1)
			return false, nil
		case claimGone:
			// The record expired and was purged between our two
			// statements: insert again. Each turn takes another purge.
			if gone++; gone > 8 {
				return false, backendError("claiming", errors.New("the record kept disappearing"))
			}
			continue
		}
		// claimHeld: wait for the other holder, within HeldClaimWait.
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(s.cfg.HeldClaimWait)
		}
		if !now.Before(deadline) {
			s.held.Add(1)
			return false, fmt.Errorf("%w: scope %q, event %q", ErrClaimHeld, scope, id)
		}
		t := time.NewTimer(min(delay, deadline.Sub(now)))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, maxHeldPoll)
	}
}

type claimState int

const (
	claimTaken     claimState = iota // a new record
	claimTakenOver                   // an expired record or a dead holder's claim
	claimRefused                     // completed, or this holder's own claim
	claimHeld                        // another live holder's claim
	claimGone                        // no record after all: try again
)

func (s *IdempotencyStore) claimOnce(ctx context.Context, args []any) (claimState, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, s.sql(claimInsertSQL), args...).Scan(&ok)
	if err == nil {
		return claimTaken, nil
	}
	if !isNoRows(err) {
		return 0, err
	}
	var took, existed, held bool
	if err := s.pool.QueryRow(ctx, s.sql(claimTakeSQL), args...).Scan(&took, &existed, &held); err != nil {
		return 0, err
	}
	switch {
	case took:
		return claimTakenOver, nil
	case held:
		return claimHeld, nil
	case existed:
		return claimRefused, nil
	}
	return claimGone, nil
}

// Complete implements bus.IdempotencyStore: it records id as handled in
// scope, for Retention, whoever claimed it (or if nobody did).
func (s *IdempotencyStore) Complete(ctx context.Context, scope, id string) error {
	if err := s.begin(ctx, scope, id); err != nil {
		return err
	}
	defer s.leave()
	if _, err := s.pool.Exec(ctx, s.sql(completeSQL), s.args(scope, id, s.cfg.Retention)...); err != nil {
		return backendError("completing", err)
	}
	s.completed.Add(1)
	return nil
}

// Release implements bus.IdempotencyStore: it forgets this holder's claim
// of id in scope, so that a later copy is handled. It leaves a completion,
// and a claim another holder has taken over, as they are.
func (s *IdempotencyStore) Release(ctx context.Context, scope, id string) error {
	if err := s.begin(ctx, scope, id); err != nil {
		return err
	}
	defer s.leave()
	if _, err := s.pool.Exec(ctx, s.sql(releaseSQL), []byte(scope), []byte(id), s.owner); err != nil {
		return backendError("releasing", err)
	}
	s.released.Add(1)
	return nil
}

// Purge deletes expired records (claims past ClaimTTL, completions past
// Retention), a thousand per statement, skipping rows in use, and returns
// how many it deleted. The purge goroutine calls it every PurgeInterval.
func (s *IdempotencyStore) Purge(ctx context.Context) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, s.sql(purgeSQL), s.offset.Load(), purgeBatch)
		if err != nil {
			return total, backendError("purging", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < purgeBatch {
			return total, nil
		}
	}
}

// IdempotencyStats counts what one IdempotencyStore value did; other
// processes' stores count their own.
type IdempotencyStats struct {
	Claimed   int64 // claims that returned true
	TakenOver int64 // of those, claims of an expired record or a dead holder's claim
	Refused   int64 // claims that returned false: duplicates suppressed
	Held      int64 // claims that returned ErrClaimHeld after HeldClaimWait
	Completed int64 // Complete calls that succeeded
	Released  int64 // Release calls that succeeded
	Committed int64 // Transactional calls whose transaction committed
	Skipped   int64 // Transactional calls that found the event handled and skipped the listener
}

// Stats returns a copy of the store's counters.
func (s *IdempotencyStore) Stats() IdempotencyStats {
	return IdempotencyStats{
		Claimed: s.claimed.Load(), TakenOver: s.takenOver.Load(), Refused: s.refused.Load(), Held: s.held.Load(),
		Completed: s.completed.Load(), Released: s.released.Load(),
		Committed: s.committed.Load(), Skipped: s.skipped.Load(),
	}
}
