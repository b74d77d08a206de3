package memory

import (
	"context"
	"time"

	"github.com/novaevents/nova/store"
)

// Retention trims streams from their oldest events. It never renumbers: the
// events that stay keep their Version and Position, and a stream keeps its
// version when all its events are gone, so its next event continues the
// numbering. The global log frees chunks as soon as all their events are
// trimmed.

// sweep is the retention goroutine: it sleeps until the oldest event
// expires, trims what has expired, and goes back to sleep. Close stops it.
func (s *Store) sweep() {
	defer close(s.sweepDone)
	timer := time.NewTimer(s.cfg.RetentionDuration)
	defer timer.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-timer.C:
		}
		timer.Reset(s.expire(s.now()))
	}
}

// expire trims the events older than RetentionDuration at now and returns
// how long to wait before the next one expires.
func (s *Store) expire(now int64) time.Duration {
	ret := s.cfg.RetentionDuration
	slack := max(ret/retentionSlackDiv, minRetentionTick)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ret
	}
	cutoff := now - int64(ret)
	s.trimBeforeLocked(cutoff)
	if e := s.log.at(s.log.head); e != nil {
		return max(time.Duration(e.at-cutoff), slack)
	}
	return ret // anything appended from now on expires no earlier
}

// TrimBefore removes the events stored before t, in every stream, and
// returns how many it removed (see store.Trimmer).
func (s *Store) TrimBefore(ctx context.Context, t time.Time) (int64, error) {
	if err := s.ready(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if t.IsZero() {
		return 0, nil
	}
	cutoff := nanos(t, 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.trimBeforeLocked(cutoff), nil
}

// TrimStream removes the events of streamID below version before (see
// store.Trimmer). An unknown stream has nothing to trim.
func (s *Store) TrimStream(ctx context.Context, streamID string, before int64) (int64, error) {
	if err := s.ready(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := store.CheckStreamID(streamID); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	st := s.streams[streamID]
	if st == nil {
		return 0, nil
	}
	return s.trimStreamLocked(st, before), nil
}

// trimBeforeLocked trims the log's prefix stored before cutoff. Because
// StoredAt never decreases along the log, that is exactly the set of events
// stored before cutoff, and in each stream it is a prefix too.
func (s *Store) trimBeforeLocked(cutoff int64) int64 {
	var n int64
	for {
		pos := s.log.head
		e := s.log.at(pos)
		if e == nil || e.at >= cutoff {
			break
		}
		st := s.byNo[e.stream] // its oldest kept event is this one
		s.log.kill(pos)
		st.index.dropFirst()
		n++
	}
	s.trimmed += n
	return n
}

// trimStreamLocked trims st's events below version before.
func (s *Store) trimStreamLocked(st *stream, before int64) int64 {
	before = min(before, st.index.next)
	var n int64
	for st.index.first < before {
		s.log.kill(st.index.at(st.index.first))
		st.index.dropFirst()
		n++
	}
	s.trimmed += n
	return n
}
