package memory

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/novaevents/nova/store"
)

// Subscribe returns a subscription to streamID, or to store.AllStreams, from
// a version (a position for AllStreams), store.FromStart or store.FromEnd.
//
// A subscription has no goroutine and no queue of its own: Next reads the
// log at the subscription's cursor, a batch at a time, and when it has caught
// up it waits for the next append to close a wake-up channel. Appends never
// wait for subscribers, and a subscriber that falls behind reads the events
// from the log when it gets to them, unless retention removed them first,
// which Next reports as a *store.TrimmedError.
func (s *Store) Subscribe(ctx context.Context, streamID string, from int64) (store.Subscription, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if err := checkRead(ctx, from); err != nil {
		return nil, err
	}
	if streamID != store.AllStreams {
		if err := store.CheckStreamID(streamID); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	sub := &subscription{st: s, streamID: streamID, cursor: from, done: make(chan struct{})}
	switch {
	case streamID == store.AllStreams && from == store.FromStart:
		sub.cursor = s.log.head
	case streamID == store.AllStreams && from == store.FromEnd:
		sub.cursor = s.log.next
	case from == store.FromStart || from == store.FromEnd:
		sub.cursor = 1
		if st := s.streams[streamID]; st != nil && from == store.FromStart {
			sub.cursor = st.index.first
		} else if st != nil {
			sub.cursor = st.index.next
		}
	}
	s.subs++
	return sub, nil
}

type subscription struct {
	st       *Store
	streamID string
	cursor   int64 // next version (or position for AllStreams) to deliver

	buf []store.Record // fetched and not yet delivered: buf[i:]
	i   int

	closed    atomic.Bool
	done      chan struct{}
	closeOnce sync.Once
}

// Next returns the next record (see store.Subscription).
func (sub *subscription) Next(ctx context.Context) (store.Record, error) {
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
		if err := ctx.Err(); err != nil {
			return store.Record{}, err
		}
		wake, err := sub.fill()
		if err != nil {
			return store.Record{}, err
		}
		if wake == nil {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return store.Record{}, ctx.Err()
		case <-sub.done:
			return store.Record{}, store.ErrSubscriptionClosed
		case <-sub.st.done:
			return store.Record{}, store.ErrClosed
		}
	}
}

// fill fetches the next batch into buf. If there is nothing to fetch it
// returns the channel that the next relevant append will close; appends
// happen under the same lock, so none can slip between the fetch and the
// registration.
func (sub *subscription) fill() (<-chan struct{}, error) {
	s := sub.st
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	if buf, err := sub.fetchLocked(); err != nil || len(buf) > 0 {
		return nil, err
	}
	if sub.streamID == store.AllStreams {
		return s.wakeLocked(), nil
	}
	st := s.streams[sub.streamID]
	if st == nil {
		return s.wakeLocked(), nil // the stream's first append will close it
	}
	if st.wake == nil {
		st.wake = make(chan struct{})
	}
	return st.wake, nil
}

// fetchLocked reads the next batch at the cursor into buf and moves the
// cursor past it. A batch of all streams ends before a trimmed position;
// its records are delivered first, and the next fetch, at that position,
// reports the *store.TrimmedError (a trimmed position never comes back).
func (sub *subscription) fetchLocked() ([]store.Record, error) {
	s := sub.st
	if sub.buf == nil {
		sub.buf = make([]store.Record, 0, subscriptionBatch)
	}
	var (
		buf = sub.buf[:0]
		err error
	)
	if sub.streamID == store.AllStreams {
		buf, err = s.readAllLocked(buf, sub.cursor, subscriptionBatch)
	} else if st := s.streams[sub.streamID]; st != nil {
		buf, err = s.readStreamLocked(buf, st, sub.cursor, subscriptionBatch)
	}
	sub.buf, sub.i = buf, 0
	if n := len(buf); n > 0 {
		last := buf[n-1]
		if sub.streamID == store.AllStreams {
			sub.cursor = last.Position + 1
		} else {
			sub.cursor = last.Version + 1
		}
		s.read.Add(int64(n))
		err = nil
	}
	return buf, err
}

func (s *Store) wakeLocked() chan struct{} {
	if s.wake == nil {
		s.wake = make(chan struct{})
	}
	return s.wake
}

// Close ends the subscription (see store.Subscription).
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() {
		sub.closed.Store(true)
		close(sub.done)
		s := sub.st
		s.mu.Lock()
		if !s.closed { // Close already counted it out
			s.subs--
		}
		s.mu.Unlock()
	})
	return nil
}
