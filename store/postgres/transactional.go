package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/novaevents/nova/shared"
)

type txKey struct{}

// TxFrom returns the transaction of the Transactional handler call that ctx
// was given to. A handler writes its effects through it so that they commit
// together with the record that the event was handled, or not at all. The
// transaction is the wrapper's: do not commit or roll it back.
func TxFrom(ctx context.Context) (pgx.Tx, bool) {
	tx, ok := ctx.Value(txKey{}).(pgx.Tx)
	return tx, ok
}

// Transactional returns a listener with l's ID that handles each event
// inside one PostgreSQL transaction that also records the event as handled
// in scope: begin; lock the event's record (creating it); if the event is
// already recorded as handled, roll back and return nil without calling l;
// else call l with the transaction in its ctx (TxFrom); if l fails, roll
// back and return its error (the caller retries as it would anyway); else
// record the event as handled and commit.
//
// What that guarantees: l's writes through the transaction happen once per
// (scope, event ID) while the record is kept (Retention), however often the
// event is delivered, by any number of processes, and whatever crashes:
// a process killed before the commit leaves nothing (PostgreSQL rolls the
// transaction back), and one killed after it leaves the record, so every
// later copy is skipped. Two copies handled at once serialise on the
// record's row lock; the second sees the first's commit and skips. It does
// not make l's other effects (HTTP calls, messages, writes to another
// database) happen once: those happen at least once, as the handler call
// itself does.
//
// scope names the consumer whose effects these are ("billing", or the
// topic and group); use one scope per consumer, shared by all its
// processes. It is a namespace of its own: the bus's ExactlyOnce claims for
// the same consumer are other records (the bus names its scopes itself), and
// the wrapper does not need them. With ExactlyOnce and this store as the
// topic's IdempotencyStore the bus also suppresses most duplicate calls of
// l; with AtLeastOnce the effects are still once.
//
// Errors: ErrInvalidArgument for an empty or overlong scope (from
// Transactional) or event ID (from Handle); from Handle, ErrClosed after
// Close, ErrBackend for a failing database (an ambiguous commit included:
// the retry finds the record if it committed), or l's own error.
//
// A call holds a pooled connection for l's whole duration: size the pool
// above the number of handlers that run at once.
func (s *IdempotencyStore) Transactional(scope string, l shared.Listener) (shared.Listener, error) {
	if err := shared.ValidateListener(l); err != nil {
		return nil, err
	}
	if err := checkKey(scope, "-"); err != nil {
		return nil, err
	}
	return &txListener{s: s, scope: scope, l: l}, nil
}

type txListener struct {
	s     *IdempotencyStore
	scope string
	l     shared.Listener
}

func (t *txListener) ID() string { return t.l.ID() }

const (
	// txLockSQL creates or locks the event's record, and reports whether it
	// is a live completion.
	txLockSQL = `INSERT INTO %[1]s AS t (scope, id, done, owner, expires_at)
		VALUES ($1, $2, false, $3, ` + nowSQL + ` + $5 * interval '1 microsecond')
		ON CONFLICT (scope, id) DO UPDATE SET owner = t.owner
		RETURNING t.done AND t.expires_at > ` + nowSQL

	txDoneSQL = `UPDATE %[1]s SET done = true, owner = $3,
		expires_at = ` + nowSQL + ` + $5 * interval '1 microsecond'
		WHERE scope = $1 AND id = $2`
)

func (t *txListener) Handle(ctx context.Context, e shared.Event) (err error) {
	if shared.IsNil(e) {
		return fmt.Errorf("%w: nil event", ErrInvalidArgument)
	}
	s := t.s
	if err := s.begin(ctx, t.scope, e.ID()); err != nil {
		return err
	}
	defer s.leave()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return backendError("beginning the handler's transaction", err)
	}
	// After a commit this is a no-op; after a panic in l it rolls back
	// before the panic goes on to whoever recovers it.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var handled bool
	if err := tx.QueryRow(ctx, s.sql(txLockSQL), s.args(t.scope, e.ID(), s.cfg.ClaimTTL)...).Scan(&handled); err != nil {
		return backendError("locking the event's record", err)
	}
	if handled {
		s.skipped.Add(1)
		return nil
	}
	if err := t.l.Handle(context.WithValue(ctx, txKey{}, tx), e); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, s.sql(txDoneSQL), s.args(t.scope, e.ID(), s.cfg.Retention)...); err != nil {
		return backendError("recording the event as handled", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return backendError("committing the handler's transaction", err)
	}
	s.committed.Add(1)
	return nil
}
