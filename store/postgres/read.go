package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
)

// The event columns, in the order scanRecord reads them.
const eventColumns = `e.position, e.stream_id, e.version, e.event_id, e.event_type, e.data_type,
	e.content_type, e.data, e.metadata, e.event_time, e.stored_at`

// row is one scanned event row before decoding. The pointers let a LEFT JOIN
// that found no event scan as nil.
type row struct {
	position, version                    *int64
	streamID, id, typ, dataType, content *string
	data, metadata                       []byte
	eventTime, storedAt                  *time.Time
}

func (r *row) dest() []any {
	return []any{&r.position, &r.streamID, &r.version, &r.id, &r.typ, &r.dataType,
		&r.content, &r.data, &r.metadata, &r.eventTime, &r.storedAt}
}

// decode turns a scanned row into a Record, or a *store.DecodeError.
func (s *Store) decode(r *row) (store.Record, error) {
	rec := store.Record{StreamID: *r.streamID, Version: *r.version, Position: *r.position, StoredAt: *r.storedAt}
	fail := func(err error) (store.Record, error) {
		return rec, &store.DecodeError{EventID: *r.id, EventType: *r.typ, StreamID: rec.StreamID,
			Version: rec.Version, Position: rec.Position, DataType: *r.dataType, Payload: r.data, Err: err}
	}
	if want := s.cfg.Codec.ContentType(); *r.content != want {
		return fail(fmt.Errorf("payload stored as %s, the store's codec reads %s", *r.content, want))
	}
	data, err := s.cfg.Registry.Decode(s.cfg.Codec, *r.dataType, r.data)
	if err != nil {
		return fail(err)
	}
	var md map[string]string
	if len(r.metadata) > 0 {
		if err := json.Unmarshal(r.metadata, &md); err != nil {
			return fail(fmt.Errorf("metadata: %w", err))
		}
	}
	rec.Event = shared.NewBaseEventAt(*r.id, *r.typ, data, *r.eventTime, md)
	return rec, nil
}

// collect scans rows whose first two columns are numbers the caller wants
// (the stream's version info or the log's last position) and the rest an
// optional event. It returns the records decoded before the first that
// fails, and that failure: a *store.DecodeError, or a store.ErrBackend
// error naming op.
func (s *Store) collect(op string, rows pgx.Rows, head *[2]int64) ([]store.Record, error) {
	defer rows.Close()
	var (
		recs   []store.Record
		decErr error
	)
	for rows.Next() {
		var r row
		dest := append([]any{&head[0], &head[1]}, r.dest()...)
		if err := rows.Scan(dest...); err != nil {
			return recs, backendError(op, err)
		}
		if r.position == nil || decErr != nil {
			continue
		}
		rec, err := s.decode(&r)
		if err != nil {
			decErr = err
			continue
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return recs, backendError(op, err)
	}
	return recs, decErr
}

// limitArg is a LIMIT parameter: NULL (no limit) for limit <= 0.
func limitArg(limit int) *int64 {
	if limit <= 0 {
		return nil
	}
	l := int64(limit)
	return &l
}

// readStream reads streamID from version from, in one statement so that the
// stream's oldest kept version and its events come from one snapshot.
func (s *Store) readStream(ctx context.Context, streamID string, from int64, limit int) ([]store.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT st.first_version, st.version, `+eventColumns+`
		FROM `+s.t.streams+` st
		LEFT JOIN LATERAL (
			SELECT * FROM `+s.t.events+` ev
			WHERE ev.stream_id = st.stream_id AND ev.version >= greatest($2, st.first_version)
			ORDER BY ev.version LIMIT $3
		) e ON true
		WHERE st.stream_id = $1
		ORDER BY e.version`, streamID, from, limitArg(limit))
	if err != nil {
		return nil, backendError("reading a stream", err)
	}
	var info [2]int64 // first kept version, version
	recs, err := s.collect("reading a stream", rows, &info)
	if info[0] == 0 { // no such stream
		return nil, err
	}
	if from != store.FromStart && from < info[0] && from <= info[1] {
		return nil, &store.TrimmedError{StreamID: streamID, Requested: from, FirstAvailable: info[0]}
	}
	s.read.Add(int64(len(recs)))
	return recs, err
}

// readAll reads every stream at consecutive positions from position from,
// with the log's last position from the same snapshot. Appends never skip a
// position (they take them under the position lock), so a position up to the
// last one without a row was trimmed: below the oldest kept, or a hole left
// by trimming one stream while an older event of another is kept. It is
// reported as a *store.TrimmedError, with the records before it.
func (s *Store) readAll(ctx context.Context, from int64, limit int) ([]store.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.last, 0::bigint, `+eventColumns+`
		FROM `+s.t.position+` p
		LEFT JOIN LATERAL (
			SELECT * FROM `+s.t.events+` ev
			WHERE ev.position >= $1
			ORDER BY ev.position LIMIT $2
		) e ON true
		ORDER BY e.position`, from, limitArg(limit))
	if err != nil {
		return nil, backendError("reading all streams", err)
	}
	var last [2]int64
	recs, err := s.collect("reading all streams", rows, &last)
	if err != nil && !errors.Is(err, store.ErrDecode) {
		return nil, err
	}
	recs, err = checkConsecutive(recs, err, from, limit, last[0])
	s.read.Add(int64(len(recs)))
	if n := len(recs); n > 0 {
		s.seePosition(recs[n-1].Position)
	}
	return recs, err
}

// checkConsecutive cuts recs, read from position from with the given limit,
// at the first position missing from them, and returns a *store.TrimmedError
// for it. decErr is collect's *store.DecodeError for the row after recs, if
// any; last is the log's last position.
func checkConsecutive(recs []store.Record, decErr error, from int64, limit int, last int64) ([]store.Record, error) {
	want := from
	if from == store.FromStart && len(recs) > 0 {
		want = recs[0].Position
	}
	trimmed := func(i int, next int64) ([]store.Record, error) {
		return recs[:i], &store.TrimmedError{StreamID: store.AllStreams, Requested: want, FirstAvailable: next}
	}
	for i, r := range recs {
		if r.Position != want {
			return trimmed(i, r.Position)
		}
		want++
	}
	var de *store.DecodeError
	switch {
	case errors.As(decErr, &de):
		if from == store.FromStart && len(recs) == 0 {
			return recs, decErr
		}
		if de.Position != want {
			return trimmed(len(recs), de.Position)
		}
		return recs, decErr
	case limit > 0 && len(recs) == limit:
		return recs, nil // the read stopped at its limit
	case from == store.FromStart && len(recs) == 0:
		return recs, nil // nothing is kept
	case want <= last: // no row left, yet positions up to last were taken
		return trimmed(len(recs), last+1)
	}
	return recs, nil
}

// Read returns up to limit records of streamID from version from (see
// store.EventStore). A record that cannot be decoded ends the read: the
// records before it are returned with its *store.DecodeError.
func (s *Store) Read(ctx context.Context, streamID string, from int64, limit int) ([]store.Record, error) {
	if err := checkRead(ctx, from); err != nil {
		return nil, err
	}
	if err := store.CheckStreamID(streamID); err != nil {
		return nil, err
	}
	if !s.enter() {
		return nil, store.ErrClosed
	}
	defer s.leave()
	if from == store.FromEnd {
		return nil, nil
	}
	return s.readStream(ctx, streamID, from, limit)
}

// ReadAll returns up to limit records of every stream from position from
// (see store.EventStore and Read).
func (s *Store) ReadAll(ctx context.Context, from int64, limit int) ([]store.Record, error) {
	if err := checkRead(ctx, from); err != nil {
		return nil, err
	}
	if !s.enter() {
		return nil, store.ErrClosed
	}
	defer s.leave()
	if from == store.FromEnd {
		return nil, nil
	}
	return s.readAll(ctx, from, limit)
}

// timeArg is a timestamptz parameter: NULL for the zero time.
func timeArg(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ReadTimeRange returns up to limit records stored in [start, end), using
// the index on stored_at (see store.EventStore).
func (s *Store) ReadTimeRange(ctx context.Context, start, end time.Time, limit int) ([]store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.enter() {
		return nil, store.ErrClosed
	}
	defer s.leave()
	recs, err := s.readRange(ctx, store.FromStart, 0, start, end, limit)
	s.read.Add(int64(len(recs)))
	return recs, err
}

// readRange reads, in position order, the events from position from up to
// position stop (0: no bound) stored in [start, end).
func (s *Store) readRange(ctx context.Context, from, stop int64, start, end time.Time, limit int) ([]store.Record, error) {
	var stopArg *int64
	if stop > 0 {
		stopArg = &stop
	}
	rows, err := s.pool.Query(ctx, `SELECT 0::bigint, 0::bigint, `+eventColumns+`
		FROM `+s.t.events+` e
		WHERE e.position >= $1 AND ($2::bigint IS NULL OR e.position <= $2)
		  AND ($3::timestamptz IS NULL OR e.stored_at >= $3) AND ($4::timestamptz IS NULL OR e.stored_at < $4)
		ORDER BY e.position LIMIT $5`, from, stopArg, timeArg(start), timeArg(end), limitArg(limit))
	if err != nil {
		return nil, backendError("reading a time range", err)
	}
	var unused [2]int64
	return s.collect("reading a time range", rows, &unused)
}

// Replay calls fn with the records stored in [start, end) that exist when it
// starts and are still kept when it reaches them, reading ReadBatch records
// per query (see store.EventStore). A record that cannot be decoded stops
// Replay with its *store.DecodeError.
func (s *Store) Replay(ctx context.Context, start, end time.Time, fn func(store.Record) error) error {
	if fn == nil {
		return fmt.Errorf("%w: nil replay function", store.ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var stop int64
	if err := s.withPool(func() error {
		return backendError("replay", s.pool.QueryRow(ctx, `SELECT last FROM `+s.t.position).Scan(&stop))
	}); err != nil {
		return err
	}
	for from := int64(1); from <= stop; {
		var recs []store.Record
		err := s.withPool(func() error {
			var err error
			recs, err = s.readRange(ctx, from, stop, start, end, s.cfg.ReadBatch)
			return err
		})
		s.read.Add(int64(len(recs)))
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
		if len(recs) < s.cfg.ReadBatch {
			return nil
		}
		from = recs[len(recs)-1].Position + 1
	}
	return nil
}

// withPool runs f as a call in progress, or returns store.ErrClosed.
func (s *Store) withPool(f func() error) error {
	if !s.enter() {
		return store.ErrClosed
	}
	defer s.leave()
	return f()
}

// GetStreams describes every stream, sorted by ID (byte order, as the
// memory store sorts).
func (s *Store) GetStreams(ctx context.Context) ([]store.StreamInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.enter() {
		return nil, store.ErrClosed
	}
	defer s.leave()
	rows, err := s.pool.Query(ctx, s.infoQuery(`ORDER BY st.stream_id COLLATE "C"`))
	if err != nil {
		return nil, backendError("listing streams", err)
	}
	infos, err := pgx.CollectRows(rows, scanInfo)
	return infos, backendError("listing streams", err)
}

// GetStreamInfo describes one stream, or returns store.ErrStreamNotFound.
func (s *Store) GetStreamInfo(ctx context.Context, streamID string) (store.StreamInfo, error) {
	if err := ctx.Err(); err != nil {
		return store.StreamInfo{}, err
	}
	if err := store.CheckStreamID(streamID); err != nil {
		return store.StreamInfo{}, err
	}
	if !s.enter() {
		return store.StreamInfo{}, store.ErrClosed
	}
	defer s.leave()
	rows, err := s.pool.Query(ctx, s.infoQuery(`WHERE st.stream_id = $1`), streamID)
	if err != nil {
		return store.StreamInfo{}, backendError("describing a stream", err)
	}
	info, err := pgx.CollectExactlyOneRow(rows, scanInfo)
	if isNoRows(err) {
		return store.StreamInfo{}, fmt.Errorf("%w: %q", store.ErrStreamNotFound, streamID)
	}
	return info, backendError("describing a stream", err)
}

func (s *Store) infoQuery(tail string) string {
	return `SELECT st.stream_id, st.first_version, st.version, st.created_at,
		(SELECT stored_at FROM ` + s.t.events + ` e WHERE e.stream_id = st.stream_id AND e.version = st.first_version),
		(SELECT stored_at FROM ` + s.t.events + ` e WHERE e.stream_id = st.stream_id AND e.version = st.version)
		FROM ` + s.t.streams + ` st ` + tail
}

func scanInfo(r pgx.CollectableRow) (store.StreamInfo, error) {
	var (
		info        store.StreamInfo
		first, last *time.Time
	)
	err := r.Scan(&info.StreamID, &info.FirstVersion, &info.LastVersion, &info.CreatedAt, &first, &last)
	info.EventCount = info.LastVersion - info.FirstVersion + 1
	if first != nil {
		info.FirstEventAt = *first
	}
	if last != nil {
		info.LastEventAt = *last
	}
	return info, err
}

func checkRead(ctx context.Context, from int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return store.CheckFrom(from)
}
