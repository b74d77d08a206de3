package shared

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Event is a fact that happened: an ID unique within its source, a type in
// "domain.action" form, when it happened, a payload and string metadata.
//
// Nova treats events as immutable once they are emitted or published: the
// same value is handed to every listener, possibly on several goroutines at
// once, so neither Data nor the map returned by Metadata may be modified
// after that point. (BaseEvent.SetMetadata, which replaces the map rather
// than modifying it, stays safe.)
type Event interface {
	ID() string
	Type() string
	Timestamp() time.Time
	Data() any
	Metadata() map[string]string
}

// BaseEvent is the standard Event. Its zero value is an event with no ID or
// type (which Validate refuses) whose methods all work, so a *BaseEvent can be
// kept in a sync.Pool and filled again with Reset.
//
// Reading a BaseEvent is safe from any number of goroutines, and so is
// SetMetadata, even while the event is being delivered: the metadata map is
// copied on write and swapped in atomically, so a map returned by Metadata
// never changes afterwards. Metadata and GetMetadata cost one atomic load
// and never allocate; SetMetadata allocates a new map unless the key already
// holds that value. SetTimestamp and Reset are for building the event before
// it is emitted and must not race with readers.
//
// Pooling: put a *BaseEvent back in its pool (and Reset it) only once every
// component it was given to is done with it. Emit is done when it returns;
// EmitAsync and Publish return before the listeners run, so an event passed
// to them stays in use until its listeners have handled it (and their
// retries are over). Reusing it sooner hands the listeners another event's
// ID, type and data. A BaseEvent must not be copied by value (go vet
// reports it); pass *BaseEvent.
type BaseEvent struct {
	id        string
	eventType string
	timestamp time.Time
	data      any
	// metadata points to a map that is never modified once stored: writers
	// store a modified copy.
	metadata atomic.Pointer[map[string]string]
}

// NewBaseEvent returns an event stamped with the current time.
func NewBaseEvent(id, eventType string, data any) *BaseEvent {
	return &BaseEvent{id: id, eventType: eventType, timestamp: time.Now(), data: data}
}

// NewBaseEventWithMetadata returns an event stamped with the current time that
// carries a copy of metadata.
func NewBaseEventWithMetadata(id, eventType string, data any, metadata map[string]string) *BaseEvent {
	e := NewBaseEvent(id, eventType, data)
	if len(metadata) > 0 {
		m := maps.Clone(metadata)
		e.metadata.Store(&m)
	}
	return e
}

// NewBaseEventAt returns an event with the given timestamp, for events that are
// replayed or rebuilt from storage.
func NewBaseEventAt(id, eventType string, data any, at time.Time, metadata map[string]string) *BaseEvent {
	e := NewBaseEventWithMetadata(id, eventType, data, metadata)
	e.timestamp = at
	return e
}

// Reset reuses e for a new event: it sets ID, type and data, stamps the
// current time and drops the metadata. Call it only once nothing holds e any
// more (see the pooling note on BaseEvent).
func (e *BaseEvent) Reset(id, eventType string, data any) {
	e.id, e.eventType, e.data, e.timestamp = id, eventType, data, time.Now()
	if e.metadata.Load() != nil {
		e.metadata.Store(nil)
	}
}

// ID returns the event ID. All BaseEvent getters are safe on a nil receiver.
func (e *BaseEvent) ID() string {
	if e == nil {
		return ""
	}
	return e.id
}

// Type returns the event type.
func (e *BaseEvent) Type() string {
	if e == nil {
		return ""
	}
	return e.eventType
}

// Timestamp returns when the event happened.
func (e *BaseEvent) Timestamp() time.Time {
	if e == nil {
		return time.Time{}
	}
	return e.timestamp
}

// Data returns the payload.
func (e *BaseEvent) Data() any {
	if e == nil {
		return nil
	}
	return e.data
}

// Metadata returns the current metadata map itself, not a copy; it may be
// nil. The map is never modified afterwards (SetMetadata replaces it), so it
// can be read while other goroutines set metadata; do not modify it.
func (e *BaseEvent) Metadata() map[string]string {
	if e == nil {
		return nil
	}
	if p := e.metadata.Load(); p != nil {
		return *p
	}
	return nil
}

// GetMetadata returns one metadata value.
func (e *BaseEvent) GetMetadata(key string) (string, bool) {
	v, ok := e.Metadata()[key]
	return v, ok
}

// SetMetadata sets one metadata value. It is safe to call concurrently with
// the getters and with other SetMetadata calls (middleware adding a trace
// ID while the same event is emitted on several goroutines): it stores a
// copy of the map with the value set. Setting a value the key already holds
// changes nothing and does not allocate.
func (e *BaseEvent) SetMetadata(key, value string) {
	for {
		old := e.metadata.Load()
		if old != nil {
			if v, ok := (*old)[key]; ok && v == value {
				return
			}
		}
		if e.metadata.CompareAndSwap(old, withEntry(old, key, value)) {
			return
		}
	}
}

// withEntry returns a pointer to a new map holding *old (if any) and key.
func withEntry(old *map[string]string, key, value string) *map[string]string {
	var m map[string]string
	if old == nil {
		m = make(map[string]string, 4)
	} else {
		m = make(map[string]string, len(*old)+1)
		maps.Copy(m, *old)
	}
	m[key] = value
	return &m
}

// SetTimestamp overrides the timestamp, for replayed events.
func (e *BaseEvent) SetTimestamp(t time.Time) { e.timestamp = t }

// Validate checks the fields every Nova component relies on: the event is not
// nil (nor a typed nil pointer), its ID is not empty, and its type is a
// dot-separated list of non-empty tokens without the wildcards '*' and '>',
// which belong to subscription patterns. The error is a *ValidationError,
// which matches ErrInvalidEvent.
func Validate(e Event) error {
	if IsNil(e) {
		return errNilEvent
	}
	if e.ID() == "" {
		return errEmptyID
	}
	return validateType(e.Type())
}

// validateType checks an event type in one pass over its bytes, without
// allocating unless the type is refused.
func validateType(t string) error {
	if t == "" {
		return errEmptyType
	}
	// The common case, a type without wildcards or empty tokens, costs one
	// table load per byte; only '.', '*', '>', NUL and non-ASCII bytes take
	// the slow path (a type that is not text is refused as a whole).
	prevDot, text := true, false
	for i := 0; i < len(t); i++ {
		if typeByte[t[i]] {
			if t[i] >= utf8.RuneSelf || t[i] == 0 {
				if !text && !TextOK(t) { // checked once, at the first such byte
					return typeError(t)
				}
				text, prevDot = true, false
				continue
			}
			if t[i] != '.' || prevDot {
				return typeError(t)
			}
			prevDot = true
		} else {
			prevDot = false
		}
	}
	if prevDot {
		return typeError(t)
	}
	return nil
}

// typeByte marks the bytes validateType looks at twice: the separators and
// wildcards, NUL, and the bytes of multi-byte UTF-8 sequences.
var typeByte = func() (t [256]bool) {
	t['.'], t['*'], t['>'], t[0] = true, true, true, true
	for b := utf8.RuneSelf; b < 256; b++ {
		t[b] = true
	}
	return t
}()

// TextOK reports whether s is valid UTF-8 without a NUL byte: text that
// every store and wire format keeps as it is. ASCII costs one comparison
// per byte.
func TextOK(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= utf8.RuneSelf {
			return strings.IndexByte(s[i:], 0) < 0 && utf8.ValidString(s[i:])
		}
	}
	return true
}

// typeError describes what is wrong with an invalid type t.
func typeError(t string) error {
	if !TextOK(t) {
		return &ValidationError{Field: "type", Reason: fmt.Sprintf("event type %q is not valid UTF-8 or holds a NUL byte", t)}
	}
	tokenStart := true // at the start of a token: a '.' here ends an empty one
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '.':
			if tokenStart {
				return &ValidationError{Field: "type", Reason: fmt.Sprintf("event type %q has an empty token", t)}
			}
			tokenStart = true
		case '*', '>':
			return &ValidationError{Field: "type", Reason: fmt.Sprintf("event type %q contains the wildcard %q, which only subscription patterns may use", t, t[i])}
		default:
			tokenStart = false
		}
	}
	if tokenStart {
		return &ValidationError{Field: "type", Reason: fmt.Sprintf("event type %q has an empty token", t)}
	}
	return nil
}

var (
	errNilEvent  = &ValidationError{Field: "event", Reason: "event is nil"}
	errEmptyID   = &ValidationError{Field: "id", Reason: "event ID is empty"}
	errEmptyType = &ValidationError{Field: "type", Reason: "event type is empty"}
)

// IsNil reports whether v is nil or an interface holding a nil pointer, map,
// slice, func or channel.
func IsNil(v any) bool {
	if v == nil {
		return true
	}
	if be, ok := v.(*BaseEvent); ok {
		return be == nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
