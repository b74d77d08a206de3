package memory

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
)

// Store is the in-memory event store. It is safe for concurrent use. Make
// it with New: the zero Store is not usable, and its methods say so
// (ErrNotInitialized; Stats is zero) rather than panic.
//
// Costs: an append is O(1) amortised: one clock read, one lock, one map
// lookup (skipped when the stream is the previous append's), and writes
// into preallocated chunks, about 40 bytes and well under one allocation
// per event. A read of n events at a version or position is O(n), whatever
// the length of the stream; a time-range read is O(log N + n). Every call
// holds one mutex for as long as it copies records (a subscription copies at
// most 128 at a time), never while it waits or runs a callback.
type Store struct {
	bad error // New refused its Config: nothing else is set
	cfg Config
	// StoredAt is read from the monotonic clock, anchored to the wall clock
	// at New: it costs one clock read instead of two, and never steps back.
	epoch     time.Time
	epochWall int64

	mu      sync.Mutex
	closed  bool
	streams map[string]*stream
	byNo    []*stream // streams by number, in order of creation
	last    *stream   // the stream of the last append: bursts skip the map
	log     eventLog
	lastAt  int64         // StoredAt of the last append, Unix nanoseconds
	wake    chan struct{} // closed by the next append; for AllStreams and not-yet-created streams
	// Guarded by mu.
	appended int64
	trimmed  int64
	subs     int64 // open subscriptions; 0 once closed

	read      atomic.Int64
	rejected  atomic.Int64
	conflicts atomic.Int64

	done      chan struct{} // closed by Close
	sweepDone chan struct{} // closed when the retention goroutine ends; nil without one
}

// stream is one stream's index and wake-up channel.
type stream struct {
	id      string
	no      uint32 // index in Store.byNo
	index   posIndex
	created int64
	wake    chan struct{} // closed by the next append to this stream
	// checkedType is the type of the last event appended: known to pass
	// shared.Validate's type check.
	checkedType string
}

func (st *stream) version() int64 { return st.index.next - 1 }

// versionOf rebuilds the version of a kept event of st from its low 32 bits:
// the kept versions are a range [first, next) shorter than 2^32.
func (st *stream) versionOf(e *entry) int64 {
	first := st.index.first
	return first + int64(e.verLo-uint32(first))
}

var (
	_ store.EventStore = (*Store)(nil)
	_ store.Trimmer    = (*Store)(nil)
)

// New returns an empty store. It starts one goroutine, the retention sweeper,
// only when cfg.RetentionDuration is set; Close stops it. New never fails: see
// Config for how out-of-range values are read.
func New(cfg Config) *Store {
	if err := cfg.Validate(); err != nil {
		return &Store{bad: err}
	}
	now := time.Now()
	s := &Store{
		cfg:       cfg.withDefaults(),
		epoch:     now,
		epochWall: now.UnixNano(),
		streams:   make(map[string]*stream),
		log:       newEventLog(),
		done:      make(chan struct{}),
	}
	if s.cfg.RetentionDuration > 0 {
		s.sweepDone = make(chan struct{})
		go s.sweep()
	}
	return s
}

// ready returns the error of a Store that New did not make (the zero Store:
// ErrNotInitialized) or made from a Config it refused (a *ConfigError).
func (s *Store) ready() error {
	if s.streams != nil {
		return nil
	}
	if s.bad != nil {
		return s.bad
	}
	return ErrNotInitialized
}

// Config returns the configuration in force, defaults filled in.
func (s *Store) Config() Config { return s.cfg }

// Append adds events to the end of streamID (see store.EventStore). ctx is
// checked on entry: an in-memory append never waits on anything else.
func (s *Store) Append(ctx context.Context, streamID string, events ...shared.Event) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.append(ctx, streamID, store.AnyVersion, events)
}

// AppendExpected appends only if streamID is at expectedVersion (see
// store.EventStore).
func (s *Store) AppendExpected(ctx context.Context, streamID string, expectedVersion int64, events ...shared.Event) error {
	if err := s.ready(); err != nil {
		return err
	}
	if err := store.CheckExpected(expectedVersion); err != nil {
		s.rejected.Add(1)
		return err
	}
	return s.append(ctx, streamID, expectedVersion, events)
}

func (s *Store) append(ctx context.Context, streamID string, expected int64, events []shared.Event) error {
	err := ctx.Err()
	if err == nil {
		err = store.CheckStreamID(streamID)
	}
	if err == nil {
		err = checkEventsButTypes(events)
	}
	if err == nil {
		now := s.now()
		s.mu.Lock()
		err = s.appendLocked(streamID, expected, events, now)
		s.mu.Unlock()
	}
	if err != nil {
		s.rejected.Add(1)
	}
	return err
}

func (s *Store) appendLocked(streamID string, expected int64, events []shared.Event, now int64) error {
	st := s.last
	if st == nil || st.id != streamID {
		st = s.streams[streamID]
	}
	// The type check checkEventsButTypes left out, skipped for the type
	// this stream's last append had (streams mostly see a few types, often
	// the same string): scanning it costs more than the rest of Validate.
	for _, e := range events {
		if st == nil || e.Type() != st.checkedType {
			if err := store.CheckEvents(events); err != nil {
				return err
			}
			break
		}
	}
	if s.closed {
		return store.ErrClosed
	}
	var version, kept int64
	if st != nil {
		version, kept = st.version(), st.index.kept()
	}
	if expected != store.AnyVersion && expected != version {
		s.conflicts.Add(1)
		return &store.ConcurrencyError{StreamID: streamID, Expected: expected, Actual: version}
	}
	n := int64(len(events))
	if n == 0 {
		return nil
	}
	if st == nil && s.cfg.MaxStreams > 0 && len(s.streams) >= s.cfg.MaxStreams {
		return &store.LimitError{Limit: "MaxStreams", Max: int64(s.cfg.MaxStreams), StreamID: streamID, Err: store.ErrTooManyStreams}
	}
	if st == nil && uint64(len(s.byNo)) >= math.MaxUint32 {
		return &store.LimitError{Limit: "streams per memory store", Max: math.MaxUint32, StreamID: streamID, Err: store.ErrTooManyStreams}
	}
	kept += n
	if s.cfg.RetentionCount > 0 {
		kept = min(kept, s.cfg.RetentionCount)
	}
	if s.cfg.MaxEventsPerStream > 0 && kept > s.cfg.MaxEventsPerStream {
		return &store.LimitError{Limit: "MaxEventsPerStream", Max: s.cfg.MaxEventsPerStream, StreamID: streamID, Err: store.ErrStreamFull}
	}

	if now < s.lastAt {
		now = s.lastAt // an appender that read the clock earlier got the lock later
	}
	s.lastAt = now
	if st == nil {
		st = &stream{id: streamID, no: uint32(len(s.byNo)), index: newPosIndex(), created: now}
		s.streams[streamID] = st
		s.byNo = append(s.byNo, st)
	}
	s.last = st
	for _, e := range events {
		pos := s.log.push(entry{event: e, at: now, stream: st.no, verLo: uint32(st.index.next)})
		st.index.push(pos)
	}
	s.appended += n
	st.checkedType = events[n-1].Type()
	if s.cfg.RetentionCount > 0 {
		s.trimStreamLocked(st, st.index.next-s.cfg.RetentionCount)
	}
	if st.wake != nil {
		close(st.wake)
		st.wake = nil
	}
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
	return nil
}

// now returns the current time in Unix nanoseconds.
func (s *Store) now() int64 { return s.epochWall + int64(time.Since(s.epoch)) }

// Close stops the retention goroutine, ends every subscription with
// store.ErrClosed (Stats then counts none open) and makes later calls return
// store.ErrClosed. The events are not copied anywhere: an in-memory store
// forgets them with its last reference. Closing twice returns nil.
func (s *Store) Close() error {
	if err := s.ready(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.subs = 0 // closing ends every subscription
	close(s.done)
	s.mu.Unlock()
	if s.sweepDone != nil {
		<-s.sweepDone
	}
	return nil
}

// Stats returns a copy of the store's counters; every field is filled.
func (s *Store) Stats() store.Stats {
	if s.ready() != nil {
		return store.Stats{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return store.Stats{
		TotalStreams:         int64(len(s.streams)),
		TotalEvents:          s.appended - s.trimmed,
		EventsAppended:       s.appended,
		EventsRead:           s.read.Load(),
		EventsTrimmed:        s.trimmed,
		AppendsRejected:      s.rejected.Load(),
		ConcurrencyConflicts: s.conflicts.Load(),
		SubscriptionsActive:  s.subs,
		LastPosition:         s.log.next - 1,
	}
}

// record builds the Record of the live entry at pos.
func (s *Store) record(e *entry, pos int64) store.Record {
	st := s.byNo[e.stream]
	return store.Record{
		Event:    e.event,
		StreamID: st.id,
		Version:  st.versionOf(e),
		Position: pos,
		StoredAt: time.Unix(0, e.at),
	}
}

// checkEventsButTypes is store.CheckEvents without the scan of each event's
// type for wildcards and empty tokens, which appendLocked does (or knows it
// need not). Any event it finds wrong is reported as CheckEvents reports it.
func checkEventsButTypes(events []shared.Event) error {
	for _, e := range events {
		if shared.IsNil(e) {
			return store.CheckEvents(events)
		}
		// The text checks of store.CheckEventText, in the same pass.
		if id := e.ID(); id == "" || e.Type() == "" || !shared.TextOK(id) || len(e.Metadata()) > 0 {
			if err := store.CheckEvents(events); err != nil {
				return err
			}
		}
	}
	return nil
}
