package shared

import (
	"reflect"
	"time"
)

// Event is a fact that happened: an ID unique within its source, a type in
// "domain.action" form, when it happened, a payload and string metadata.
//
// Nova treats events as immutable once they are emitted or published: the
// same value is handed to every listener, possibly on several goroutines at
// once, so neither Data nor the map returned by Metadata may be modified
// after that point.
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
// A BaseEvent is safe for concurrent reads. The setters (SetMetadata,
// SetTimestamp, Reset) are for building the event before it is emitted and
// must not race with readers.
type BaseEvent struct {
	id        string
	eventType string
	timestamp time.Time
	data      any
	metadata  map[string]string
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
		e.metadata = make(map[string]string, len(metadata))
		for k, v := range metadata {
			e.metadata[k] = v
		}
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
// current time and empties the metadata (keeping the map for reuse).
func (e *BaseEvent) Reset(id, eventType string, data any) {
	e.id, e.eventType, e.data, e.timestamp = id, eventType, data, time.Now()
	clear(e.metadata)
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

// Metadata returns the metadata map itself, not a copy: read it, do not
// modify it (use SetMetadata before the event is emitted). It may be nil.
func (e *BaseEvent) Metadata() map[string]string {
	if e == nil {
		return nil
	}
	return e.metadata
}

// GetMetadata returns one metadata value.
func (e *BaseEvent) GetMetadata(key string) (string, bool) {
	if e == nil {
		return "", false
	}
	v, ok := e.metadata[key]
	return v, ok
}

// SetMetadata sets one metadata value, creating the map on first use.
func (e *BaseEvent) SetMetadata(key, value string) {
	if e.metadata == nil {
		e.metadata = make(map[string]string, 4)
	}
	e.metadata[key] = value
}

// SetTimestamp overrides the timestamp, for replayed events.
func (e *BaseEvent) SetTimestamp(t time.Time) { e.timestamp = t }

// Validate checks the fields every Nova component relies on: the event is not
// nil (nor a typed nil pointer), and its ID and type are not empty. The error
// is a *ValidationError, which matches ErrInvalidEvent.
func Validate(e Event) error {
	if IsNil(e) {
		return errNilEvent
	}
	if e.ID() == "" {
		return errEmptyID
	}
	if e.Type() == "" {
		return errEmptyType
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
