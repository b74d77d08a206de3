package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaevents/nova/store"
)

// Store is the PostgreSQL event store. It is safe for concurrent use.
//
// Costs: an append is one transaction of four round trips (begin; take the
// position lock and read the stream's version; insert the batch, update the
// stream and notify; commit), whatever the batch size, so batches are how to
// get throughput. Appends are serialised by the position lock for the length
// of their transaction. Reads are one statement each, by primary key or
// unique index.
type Store struct {
	cfg     Config
	pool    *pgxpool.Pool
	ownPool bool
	t       tables

	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup // calls using the pool
	done     chan struct{}  // closed by Close

	notify *notifier

	listenMu     sync.Mutex
	listening    bool
	stopListen   context.CancelFunc
	listenerDone chan struct{}

	appended     atomic.Int64
	read         atomic.Int64
	trimmed      atomic.Int64
	rejected     atomic.Int64
	conflicts    atomic.Int64
	subs         atomic.Int64
	lastPosition atomic.Int64
}

var (
	_ store.EventStore = (*Store)(nil)
	_ store.Trimmer    = (*Store)(nil)
)

// New returns a store on pool, creating its schema and tables if they are
// missing. The pool stays the caller's: Close does not close it. The store
// starts no goroutine until the first Subscribe, which opens one dedicated
// connection (outside the pool) for LISTEN and one goroutine that reads it.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, configError("pool", "nil")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Store{
		cfg:    cfg,
		pool:   pool,
		t:      newTables(cfg.Schema),
		done:   make(chan struct{}),
		notify: newNotifier(),
	}
	if err := s.migrate(ctx); err != nil {
		return nil, backendError("creating schema "+s.t.schema, err)
	}
	return s, nil
}

// Open connects to the database at dsn (a URL or key=value string, as
// pgxpool.ParseConfig takes it) and returns a store that owns the pool:
// Close closes it.
func Open(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	if strings.TrimSpace(dsn) == "" {
		// libpq would fill in every part from the environment and its
		// defaults: a store in whatever database that happens to be.
		return nil, configError("dsn", "empty: name the database (postgres://user@host:5432/db)")
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, configError("dsn", err.Error())
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, backendError("connecting", err)
	}
	s, err := New(ctx, pool, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownPool = true
	return s, nil
}

// Close refuses new calls with store.ErrClosed, ends subscriptions with
// store.ErrClosed (Stats then counts none open), waits for the calls in progress, stops the LISTEN
// goroutine and closes its connection, and closes the pool if Open made it.
// Everything appended before Close is in the database. Closing twice
// returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()

	s.inflight.Wait()
	// Closing ends every subscription. A Subscribe that entered before
	// closed was set has counted itself by now; a subscription closed from
	// now on does not count itself out again.
	s.subs.Store(0)
	s.listenMu.Lock()
	if s.listening {
		s.stopListen()
		<-s.listenerDone
		s.listening = false
	}
	s.listenMu.Unlock()
	if s.ownPool {
		s.pool.Close()
	}
	return nil
}

// enter registers a call that uses the pool; it is false once the store is
// closed. Every true must be matched by leave.
func (s *Store) enter() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

func (s *Store) leave() { s.inflight.Done() }

// Stats returns a copy of this Store value's counters: what it appended,
// read, trimmed and refused, its open subscriptions and the highest position
// it appended or read. TotalStreams and TotalEvents are left zero, since
// other processes write to the same tables: use GetStreams for those.
func (s *Store) Stats() store.Stats {
	return store.Stats{
		EventsAppended:       s.appended.Load(),
		EventsRead:           s.read.Load(),
		EventsTrimmed:        s.trimmed.Load(),
		AppendsRejected:      s.rejected.Load(),
		ConcurrencyConflicts: s.conflicts.Load(),
		SubscriptionsActive:  s.subs.Load(),
		LastPosition:         s.lastPosition.Load(),
	}
}

func (s *Store) seePosition(p int64) {
	for {
		cur := s.lastPosition.Load()
		if p <= cur || s.lastPosition.CompareAndSwap(cur, p) {
			return
		}
	}
}

// isNoRows reports a QueryRow that found nothing.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
