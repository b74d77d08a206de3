package store

import (
	"errors"
	"fmt"

	"github.com/novaevents/nova/shared"
)

// Sentinel errors. Every error a store's methods return matches one of these
// (or shared.ErrInvalidEvent, or a context error) with errors.Is.
var (
	// ErrClosed is returned by every call on a closed store, and by Next of
	// its subscriptions.
	ErrClosed = errors.New("store: closed")
	// ErrInvalidStreamID is returned for an empty stream ID, and for
	// AllStreams where a real stream is needed.
	ErrInvalidStreamID = errors.New("store: invalid stream ID")
	// ErrInvalidArgument is returned for a negative version or position
	// other than the named constants, or a nil callback.
	ErrInvalidArgument = errors.New("store: invalid argument")
	// ErrInvalidText is matched by the error of an append (or a read) whose
	// stream ID, or whose events' ID, type or metadata, is not valid UTF-8
	// or holds a NUL byte: text that no store keeps as it is. Every store
	// refuses it the same way, before writing anything. It is permanent
	// (shared.IsPermanent): the same call fails the same way every time.
	ErrInvalidText = shared.Permanent(errors.New("store: text is not valid UTF-8 or holds a NUL byte"))
	// ErrStreamNotFound is returned by GetStreamInfo for an unknown stream.
	ErrStreamNotFound = errors.New("store: stream not found")
	// ErrConcurrencyConflict is matched by every *ConcurrencyError.
	ErrConcurrencyConflict = errors.New("store: concurrency conflict")
	// ErrTrimmed is matched by every *TrimmedError.
	ErrTrimmed = errors.New("store: events removed by retention")
	// ErrTooManyStreams is matched by the *LimitError of an append that
	// would create a stream past the store's stream limit.
	ErrTooManyStreams = errors.New("store: too many streams")
	// ErrStreamFull is matched by the *LimitError of an append that would
	// keep more events in a stream than the store's per-stream limit.
	ErrStreamFull = errors.New("store: stream full")
	// ErrDecode is matched by every *DecodeError.
	ErrDecode = errors.New("store: cannot decode event")
	// ErrEncode is matched by the error of an append refused because an
	// event's payload or metadata cannot be encoded; the error also matches
	// the codec's (codec.ErrEncode). Nothing was written.
	ErrEncode = errors.New("store: cannot encode event")
	// ErrBackend is matched by the errors of the storage behind a store: a
	// database that cannot be reached, a connection that drops, a statement
	// that fails. The error also matches its cause (a *pgconn.PgError, for
	// instance), and says which call failed. An append that fails with it may
	// or may not have been committed if the failure came during the commit;
	// reading the stream tells.
	ErrBackend = errors.New("store: backend failed")
	// ErrSubscriptionClosed is returned by Next after the subscription's
	// Close.
	ErrSubscriptionClosed = errors.New("store: subscription closed")
	// ErrInvalidEvent is shared.ErrInvalidEvent: a nil event, or one with an
	// empty ID or type.
	ErrInvalidEvent = shared.ErrInvalidEvent
)

// ConcurrencyError is returned by AppendExpected when the stream is not at
// the expected version. Nothing was written.
type ConcurrencyError struct {
	StreamID string
	Expected int64 // the version the caller expected
	Actual   int64 // the stream's version when the append was tried
}

func (e *ConcurrencyError) Error() string {
	return fmt.Sprintf("store: concurrency conflict on stream %q: expected version %d, stream is at %d",
		e.StreamID, e.Expected, e.Actual)
}

// Is matches ErrConcurrencyConflict.
func (e *ConcurrencyError) Is(target error) bool { return target == ErrConcurrencyConflict }

// TrimmedError says that the events asked for were removed by retention.
// StreamID is AllStreams for a read by global position; Requested and
// FirstAvailable are then positions, otherwise versions.
type TrimmedError struct {
	StreamID       string
	Requested      int64 // the first version or position asked for
	FirstAvailable int64 // the oldest one still kept (or the next to come)
}

func (e *TrimmedError) Error() string {
	return fmt.Sprintf("store: stream %q: %d was removed by retention; the oldest kept is %d",
		e.StreamID, e.Requested, e.FirstAvailable)
}

// Is matches ErrTrimmed.
func (e *TrimmedError) Is(target error) bool { return target == ErrTrimmed }

// LimitError says that an append was refused, and nothing written, because
// it would pass a configured limit.
type LimitError struct {
	Limit    string // the config field, such as "MaxStreams"
	Max      int64  // its value
	StreamID string // the stream appended to
	Err      error  // ErrTooManyStreams or ErrStreamFull
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%v: appending to %q would pass %s (%d); nothing was written",
		e.Err, e.StreamID, e.Limit, e.Max)
}

// Unwrap returns ErrTooManyStreams or ErrStreamFull.
func (e *LimitError) Unwrap() error { return e.Err }

// DecodeError says which stored event could not be decoded. Err is the
// codec's error (a *codec.DecodeError when the payload itself is bad).
type DecodeError struct {
	EventID   string
	EventType string
	StreamID  string
	Version   int64
	Position  int64
	DataType  string // the registry name the payload was stored under
	Payload   []byte // the stored bytes, for a dead letter or a repair
	Err       error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("store: cannot decode event %q (%s) at %s version %d (position %d): %v",
		e.EventID, e.EventType, e.StreamID, e.Version, e.Position, e.Err)
}

// Unwrap returns the codec's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is matches ErrDecode.
func (e *DecodeError) Is(target error) bool { return target == ErrDecode }
