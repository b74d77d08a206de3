package memory

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/novaevents/nova/store"
)

// Read returns up to limit records of streamID from version from (see
// store.EventStore). It costs O(limit), however long the stream.
func (s *Store) Read(ctx context.Context, streamID string, from int64, limit int) ([]store.Record, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if err := checkRead(ctx, from); err != nil {
		return nil, err
	}
	if err := store.CheckStreamID(streamID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	st := s.streams[streamID]
	if st == nil || from == store.FromEnd {
		return nil, nil
	}
	recs, err := s.readStreamLocked(nil, st, from, limit)
	s.read.Add(int64(len(recs)))
	return recs, err
}

// readStreamLocked appends to buf the records of st from version from.
func (s *Store) readStreamLocked(buf []store.Record, st *stream, from int64, limit int) ([]store.Record, error) {
	first, next := st.index.first, st.index.next
	if from == store.FromStart {
		from = first
	}
	if from < first {
		return buf, &store.TrimmedError{StreamID: st.id, Requested: from, FirstAvailable: first}
	}
	end := next
	if limit > 0 && int64(limit) < end-from {
		end = from + int64(limit)
	}
	if from >= end {
		return buf, nil
	}
	if buf == nil {
		buf = make([]store.Record, 0, end-from)
	}
	for v := from; v < end; v++ {
		pos := st.index.at(v)
		buf = append(buf, s.record(s.log.at(pos), pos))
	}
	return buf, nil
}

// ReadAll returns up to limit records of every stream at consecutive
// positions from position from, and a *store.TrimmedError at the first
// position retention removed (see store.EventStore). It costs O(limit).
func (s *Store) ReadAll(ctx context.Context, from int64, limit int) ([]store.Record, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if err := checkRead(ctx, from); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	if from == store.FromEnd {
		return nil, nil
	}
	recs, err := s.readAllLocked(nil, from, limit)
	s.read.Add(int64(len(recs)))
	return recs, err
}

// readAllLocked appends to buf the records at consecutive positions from
// position from, up to limit (<= 0: all). Appends never skip a position, so a
// position below next without a live entry was trimmed: below the log's head,
// or a hole left by trimming one stream while an older event of another is
// kept. It is reported as a *store.TrimmedError, with the records before it.
func (s *Store) readAllLocked(buf []store.Record, from int64, limit int) ([]store.Record, error) {
	if from == store.FromStart {
		from = s.log.head
	}
	end := s.log.next
	if limit > 0 && int64(limit) < end-from {
		end = from + int64(limit)
	}
	for pos := from; pos < end; pos++ {
		e := s.log.at(pos)
		if e == nil {
			return buf, &store.TrimmedError{StreamID: store.AllStreams, Requested: pos,
				FirstAvailable: s.log.nextLive(max(pos, s.log.head))}
		}
		buf = append(buf, s.record(e, pos))
	}
	return buf, nil
}

// scanLocked appends the live records from position from (>= head) whose
// position is below stop and StoredAt below end, up to limit (<= 0: all).
func (s *Store) scanLocked(buf []store.Record, from, stop, end int64, limit int) []store.Record {
	stop = min(stop, s.log.next)
	for pos := s.log.nextLive(from); pos < stop; pos = s.log.nextLive(pos + 1) {
		e := s.log.at(pos)
		if e.at >= end || (limit > 0 && len(buf) >= limit) {
			break
		}
		buf = append(buf, s.record(e, pos))
	}
	return buf
}

// ReadTimeRange returns up to limit records stored in [start, end) (see
// store.EventStore). The start is found by binary search.
func (s *Store) ReadTimeRange(ctx context.Context, start, end time.Time, limit int) ([]store.Record, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	from, until := nanos(start, math.MinInt64), nanos(end, math.MaxInt64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	recs := s.scanLocked(nil, s.log.searchAt(from), math.MaxInt64, until, limit)
	s.read.Add(int64(len(recs)))
	return recs, nil
}

// Replay calls fn with the records stored in [start, end) that exist when it
// starts and are still kept when it reaches them (see store.EventStore). The lock is not held while fn runs, so fn
// may use the store; records are fetched in batches.
func (s *Store) Replay(ctx context.Context, start, end time.Time, fn func(store.Record) error) error {
	if err := s.ready(); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("%w: nil replay function", store.ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	from, until := nanos(start, math.MinInt64), nanos(end, math.MaxInt64)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	pos, stop := s.log.searchAt(from), s.log.next
	s.mu.Unlock()

	buf := make([]store.Record, 0, replayBatch)
	for pos < stop {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return store.ErrClosed
		}
		// Events trimmed while Replay runs are not visited.
		buf = s.scanLocked(buf[:0], max(pos, s.log.head), stop, until, replayBatch)
		s.mu.Unlock()
		if len(buf) == 0 {
			return nil // reached stop, or the end of the time range
		}
		s.read.Add(int64(len(buf)))
		for _, r := range buf {
			if err := fn(r); err != nil {
				return err
			}
		}
		pos = buf[len(buf)-1].Position + 1
		clear(buf) // drop references to events while fn is not using them
	}
	return nil
}

// GetStreams describes every stream, sorted by ID.
func (s *Store) GetStreams(ctx context.Context) ([]store.StreamInfo, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, store.ErrClosed
	}
	infos := make([]store.StreamInfo, 0, len(s.streams))
	for _, st := range s.streams {
		infos = append(infos, s.infoLocked(st))
	}
	s.mu.Unlock()
	slices.SortFunc(infos, func(a, b store.StreamInfo) int { return strings.Compare(a.StreamID, b.StreamID) })
	return infos, nil
}

// GetStreamInfo describes one stream.
func (s *Store) GetStreamInfo(ctx context.Context, streamID string) (store.StreamInfo, error) {
	if err := s.ready(); err != nil {
		return store.StreamInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.StreamInfo{}, err
	}
	if err := store.CheckStreamID(streamID); err != nil {
		return store.StreamInfo{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.StreamInfo{}, store.ErrClosed
	}
	st := s.streams[streamID]
	if st == nil {
		return store.StreamInfo{}, fmt.Errorf("%w: %q", store.ErrStreamNotFound, streamID)
	}
	return s.infoLocked(st), nil
}

func (s *Store) infoLocked(st *stream) store.StreamInfo {
	info := store.StreamInfo{
		StreamID:     st.id,
		EventCount:   st.index.kept(),
		FirstVersion: st.index.first,
		LastVersion:  st.version(),
		CreatedAt:    time.Unix(0, st.created),
	}
	if info.EventCount > 0 {
		info.FirstEventAt = time.Unix(0, s.log.at(st.index.at(st.index.first)).at)
		info.LastEventAt = time.Unix(0, s.log.at(st.index.at(info.LastVersion)).at)
	}
	return info
}

func checkRead(ctx context.Context, from int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return store.CheckFrom(from)
}

var (
	minNanos = time.Unix(0, math.MinInt64)
	maxNanos = time.Unix(0, math.MaxInt64)
)

// nanos converts t to Unix nanoseconds, or returns open for the zero time.
// Times beyond what int64 nanoseconds hold (before 1678, after 2262) clamp.
func nanos(t time.Time, open int64) int64 {
	switch {
	case t.IsZero():
		return open
	case t.Before(minNanos):
		return math.MinInt64
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}
