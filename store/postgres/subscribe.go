package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/novaevents/nova/store"
)

// Subscriptions read the events table by position; NOTIFY only says "look
// again". Each append's transaction sends pg_notify on commit. One goroutine
// per Store LISTENs on a dedicated connection and, for every notification,
// closes the notifier's current channel. A subscription takes that channel
// *before* it queries: a commit that its query missed is notified after the
// channel was taken, so the subscription wakes and queries again. Nothing
// depends on a notification arriving: if the LISTEN connection drops, the
// goroutine wakes every subscription, reconnects with backoff, and wakes
// them again; and a waiting subscription queries anyway every PollInterval.

// notifier hands out a channel that the next broadcast closes.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}

// ensureListening starts the LISTEN goroutine once; Subscribe calls it
// before its subscription's first query.
func (s *Store) ensureListening(ctx context.Context) error {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if s.listening {
		return nil
	}
	conn, err := s.listenConn(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stopListen, s.listenerDone, s.listening = cancel, make(chan struct{}), true
	go s.listen(lctx, conn)
	return nil
}

func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.t.channel}.Sanitize()); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// listen is the LISTEN goroutine. It ends when ctx is cancelled by Close.
func (s *Store) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(s.listenerDone)
	delay := minReconnectDelay
	for {
		_, err := conn.WaitForNotification(ctx)
		if err == nil {
			s.notify.broadcast()
			delay = minReconnectDelay
			continue
		}
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		s.cfg.Logger.Warn("nova store: LISTEN connection lost; reconnecting", "schema", s.cfg.Schema, "error", err)
		s.notify.broadcast() // notifications may be lost until we are back: look again
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, maxReconnectDelay)
			if conn, err = s.listenConn(ctx); err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
		}
		s.cfg.Logger.Info("nova store: LISTEN connection back", "schema", s.cfg.Schema)
		s.notify.broadcast()
	}
}

// Subscribe returns a subscription to streamID, or to store.AllStreams (see
// store.EventStore). It starts the LISTEN goroutine if it is not running yet,
// and resolves FromStart and FromEnd with a query, under ctx.
func (s *Store) Subscribe(ctx context.Context, streamID string, from int64) (store.Subscription, error) {
	if err := checkRead(ctx, from); err != nil {
		return nil, err
	}
	if streamID != store.AllStreams {
		if err := store.CheckStreamID(streamID); err != nil {
			return nil, err
		}
	}
	if !s.enter() {
		return nil, store.ErrClosed
	}
	defer s.leave()
	if err := s.ensureListening(ctx); err != nil {
		return nil, backendError("opening the LISTEN connection", err)
	}
	sub := &subscription{s: s, streamID: streamID, cursor: from, done: make(chan struct{})}
	if from == store.FromStart || from == store.FromEnd {
		var err error
		if sub.cursor, err = s.resolve(ctx, streamID, from); err != nil {
			return nil, backendError("subscribing", err)
		}
	}
	s.subs.Add(1)
	return sub, nil
}

// resolve turns FromStart or FromEnd into a version or position.
func (s *Store) resolve(ctx context.Context, streamID string, from int64) (int64, error) {
	var first, next int64
	var err error
	if streamID == store.AllStreams {
		err = s.pool.QueryRow(ctx, `SELECT coalesce((SELECT min(position) FROM `+s.t.events+`), last + 1), last + 1
			FROM `+s.t.position).Scan(&first, &next)
	} else {
		err = s.pool.QueryRow(ctx, `SELECT first_version, version + 1 FROM `+s.t.streams+` WHERE stream_id = $1`,
			streamID).Scan(&first, &next)
		if isNoRows(err) {
			return 1, nil
		}
	}
	if from == store.FromStart {
		return first, err
	}
	return next, err
}

type subscription struct {
	s        *Store
	streamID string
	cursor   int64 // next version (position for AllStreams) to deliver

	buf     []store.Record
	i       int
	pending error // a decode error to return after buf

	closed    atomic.Bool
	done      chan struct{}
	closeOnce sync.Once
}

// Next returns the next record (see store.Subscription). ctx bounds both the
// wait and the queries.
func (sub *subscription) Next(ctx context.Context) (store.Record, error) {
	s := sub.s
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if sub.closed.Load() {
			return store.Record{}, store.ErrSubscriptionClosed
		}
		if sub.i < len(sub.buf) {
			r := sub.buf[sub.i]
			sub.buf[sub.i] = store.Record{}
			sub.i++
			return r, nil
		}
		if err := sub.pending; err != nil {
			sub.pending = nil
			return store.Record{}, err
		}
		if err := ctx.Err(); err != nil {
			return store.Record{}, err
		}
		wake := s.notify.wait() // before the query: see the comment at the top
		if err := sub.fetch(ctx); err != nil {
			return store.Record{}, err
		}
		if len(sub.buf) > 0 || sub.pending != nil {
			continue
		}
		if timer == nil {
			timer = time.NewTimer(s.cfg.PollInterval)
		} else {
			timer.Reset(s.cfg.PollInterval)
		}
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
			return store.Record{}, ctx.Err()
		case <-sub.done:
			return store.Record{}, store.ErrSubscriptionClosed
		case <-s.done:
			return store.Record{}, store.ErrClosed
		}
	}
}

// fetch reads the next batch at the cursor into buf and moves the cursor
// past it, and past a record that cannot be decoded (kept in pending). A
// batch of all streams ends before a trimmed position; its records are
// delivered first, and the next fetch, at that position, reports the
// *store.TrimmedError (a trimmed position never comes back).
func (sub *subscription) fetch(ctx context.Context) error {
	s := sub.s
	if !s.enter() {
		return store.ErrClosed
	}
	defer s.leave()
	var (
		recs []store.Record
		err  error
	)
	if sub.streamID == store.AllStreams {
		recs, err = s.readAll(ctx, sub.cursor, s.cfg.ReadBatch)
	} else {
		recs, err = s.readStream(ctx, sub.streamID, sub.cursor, s.cfg.ReadBatch)
	}
	sub.buf, sub.i = recs, 0
	if n := len(recs); n > 0 {
		if sub.streamID == store.AllStreams {
			sub.cursor = recs[n-1].Position + 1
		} else {
			sub.cursor = recs[n-1].Version + 1
		}
	}
	var de *store.DecodeError
	if errors.As(err, &de) {
		sub.pending = err
		if sub.streamID == store.AllStreams {
			sub.cursor = de.Position + 1
		} else {
			sub.cursor = de.Version + 1
		}
		return nil
	}
	if len(recs) > 0 && errors.Is(err, store.ErrTrimmed) {
		return nil
	}
	return err
}

// Close ends the subscription (see store.Subscription).
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() {
		sub.closed.Store(true)
		close(sub.done)
		s := sub.s
		s.mu.RLock()
		if !s.closed { // Close already counted it out
			s.subs.Add(-1)
		}
		s.mu.RUnlock()
	})
	return nil
}
