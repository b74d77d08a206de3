package store

import (
	"context"
	"time"

	"github.com/novaevents/nova/shared"
)

// Special stream IDs, versions and positions.
const (
	// AllStreams, given to Subscribe as the stream ID, follows every stream
	// in global Position order. It cannot be appended to.
	AllStreams = "$all"

	// FromStart, as the from argument of a read or a subscription, means the
	// oldest event still kept, so a read never starts with a *TrimmedError.
	// (A read of all streams can still meet, further on, a position that
	// retention removed from one stream: see ReadAll.)
	FromStart int64 = 0
	// FromEnd, as the from argument of Subscribe, means only events appended
	// after Subscribe returns. A read from FromEnd returns nothing.
	FromEnd int64 = -1

	// AnyVersion, as the expected version of AppendExpected, skips the check:
	// the call is then the same as Append.
	AnyVersion int64 = -1
	// NoStream, as the expected version of AppendExpected, requires a stream
	// that has never had an event.
	NoStream int64 = 0
)

// EventStore is an append-only store of events in streams. Implementations
// are safe for concurrent use.
//
// Every method that takes a context honours its cancellation while it waits
// (for a database, for a lock that a database holds, for new events); an
// in-memory call that never waits only checks it on entry.
type EventStore interface {
	// Append adds events to the end of streamID, creating the stream on its
	// first event. The batch is atomic: either every event is stored, with
	// consecutive versions and increasing positions, or none is. Appending no
	// events does nothing. Errors: ErrInvalidStreamID, shared.ErrInvalidEvent
	// (a nil event, an empty ID or type), limit errors of the implementation,
	// ErrClosed.
	Append(ctx context.Context, streamID string, events ...shared.Event) error

	// AppendExpected is Append that first checks that the stream's current
	// version (the Version of its last event, 0 for a stream that has none) is
	// expectedVersion; otherwise it writes nothing and returns a
	// *ConcurrencyError. NoStream (0) expects a new stream; AnyVersion skips
	// the check. With no events it only checks.
	AppendExpected(ctx context.Context, streamID string, expectedVersion int64, events ...shared.Event) error

	// Read returns up to limit records of streamID (limit <= 0: all) in
	// version order, starting at version from (FromStart: the oldest kept).
	// A stream that does not exist reads as empty. If from names an event
	// that retention removed, Read returns a *TrimmedError. AllStreams is
	// refused with ErrInvalidStreamID: ReadAll reads every stream.
	Read(ctx context.Context, streamID string, from int64, limit int) ([]Record, error)

	// ReadAll returns up to limit records (limit <= 0: all) of every stream
	// in Position order, starting at position from (FromStart: the oldest
	// kept). The records sit at consecutive positions: retention trims each
	// stream from its oldest event, so trimming one stream can leave holes
	// between the positions of the others, and ReadAll never passes over one.
	// If from itself was removed, it returns a *TrimmedError. If it reaches a
	// removed position after from, it returns the records before it together
	// with a *TrimmedError whose Requested is that position. Either way
	// FirstAvailable is the next position kept (or the next to come), where
	// a reader that accepts the loss goes on.
	ReadAll(ctx context.Context, from int64, limit int) ([]Record, error)

	// ReadTimeRange returns up to limit records (limit <= 0: all), in
	// Position order, whose StoredAt is in [start, end). A zero start or end
	// leaves that side open. It looks up the range, it does not scan. It
	// returns the events kept in the range, passing over any that retention
	// removed, without a *TrimmedError: a time range names no position.
	ReadTimeRange(ctx context.Context, start, end time.Time, limit int) ([]Record, error)

	// Replay calls fn with every record whose StoredAt is in [start, end),
	// in Position order, among the events that exist when Replay starts. It
	// stops at the first error of fn and returns it. fn may call the store.
	Replay(ctx context.Context, start, end time.Time, fn func(Record) error) error

	// Subscribe returns a subscription to streamID (or AllStreams) starting
	// at from: a version of the stream, a Position for AllStreams, FromStart
	// or FromEnd. The subscription yields the history from there and then
	// every new event, each exactly once and in order. ctx bounds only the
	// setup, not the subscription's life: close it with Close.
	Subscribe(ctx context.Context, streamID string, from int64) (Subscription, error)

	// GetStreams describes every stream, sorted by ID.
	GetStreams(ctx context.Context) ([]StreamInfo, error)

	// GetStreamInfo describes one stream, or returns ErrStreamNotFound.
	GetStreamInfo(ctx context.Context, streamID string) (StreamInfo, error)

	// Close stops the store: later calls return ErrClosed and open
	// subscriptions end with ErrClosed. Closing twice returns nil.
	Close() error

	// Stats returns a copy of the store's counters.
	Stats() Stats
}

// Subscription yields the records of a stream (or of all streams) in order.
// Next is for one goroutine at a time; Close may be called from any
// goroutine, also while Next waits.
type Subscription interface {
	// Next returns the next record, waiting for one to be appended if the
	// subscription has caught up. It returns ctx.Err() if ctx ends first
	// (the subscription stays usable), ErrSubscriptionClosed after Close,
	// ErrClosed once the store is closed, and a *TrimmedError if retention
	// removed the next record before it was read (the subscription then
	// stays at that point; subscribe again from TrimmedError.FirstAvailable
	// to go on). For AllStreams "the next record" is the one at the next
	// Position: trimming one stream while an older event of another is kept
	// leaves a hole in the positions, which Next reports in the same way
	// rather than passing over it. A *DecodeError is returned once for a
	// record that cannot be decoded, which is then passed. With an error the
	// Record is the zero value, whose Event is nil.
	Next(ctx context.Context) (Record, error)
	// Close ends the subscription and wakes a waiting Next. Calling it again
	// returns nil.
	Close() error
}

// Trimmer is implemented by stores that remove old events on request. Trimming
// never changes the Version or Position of the events that stay, and a
// stream whose events are all trimmed keeps its version: its next event
// continues the numbering.
type Trimmer interface {
	// TrimStream removes the events of streamID whose version is below
	// before, and returns how many it removed.
	TrimStream(ctx context.Context, streamID string, before int64) (int64, error)
	// TrimBefore removes, in every stream, the events stored before t (by
	// StoredAt), and returns how many it removed.
	TrimBefore(ctx context.Context, t time.Time) (int64, error)
}

// Record is a stored event: the event itself (embedded, so rec.ID() and
// rec.Data() work and a Record can be emitted as an Event) with the numbers
// the store gave it.
type Record struct {
	shared.Event
	// StreamID is the stream the event was appended to.
	StreamID string
	// Version is the event's place in its stream, from 1.
	Version int64
	// Position is the event's place in the whole store, from 1.
	Position int64
	// StoredAt is when the store accepted the event. It never decreases as
	// Position increases, so time ranges and retention follow it rather
	// than the event's own Timestamp, which its producer chose.
	StoredAt time.Time
}

// StreamInfo describes a stream.
type StreamInfo struct {
	StreamID string
	// EventCount is the number of events kept.
	EventCount int64
	// FirstVersion is the version of the oldest kept event, or LastVersion+1
	// when retention removed them all.
	FirstVersion int64
	// LastVersion is the version of the last event ever appended.
	LastVersion int64
	// CreatedAt is when the stream's first event was stored.
	CreatedAt time.Time
	// FirstEventAt and LastEventAt are the StoredAt of the oldest and newest
	// kept events; zero when none is kept.
	FirstEventAt time.Time
	LastEventAt  time.Time
}

// Stats are a store's counters. Implementations document which fields they
// fill.
type Stats struct {
	// TotalStreams is the number of streams.
	TotalStreams int64
	// TotalEvents is the number of events kept.
	TotalEvents int64
	// EventsAppended counts events stored since the store was opened.
	EventsAppended int64
	// EventsRead counts records returned by reads and subscriptions.
	EventsRead int64
	// EventsTrimmed counts events removed by retention or trimming.
	EventsTrimmed int64
	// AppendsRejected counts Append and AppendExpected calls that wrote
	// nothing because of bad input, a limit, a conflict or a closed store.
	AppendsRejected int64
	// ConcurrencyConflicts counts AppendExpected calls refused with a
	// *ConcurrencyError.
	ConcurrencyConflicts int64
	// SubscriptionsActive is the number of open subscriptions: 0 once the
	// store is closed, since closing it ends them all.
	SubscriptionsActive int64
	// LastPosition is the Position of the last event appended.
	LastPosition int64
}
