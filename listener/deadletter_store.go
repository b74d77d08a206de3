package listener

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/novaevents/nova/shared"
)

// DeadLetter is an event a listener gave up on, as kept by a DeadLetterStore.
type DeadLetter struct {
	// ID identifies the entry in its store ("dl-1", "dl-2"…).
	ID string `json:"id"`
	// ListenerID is the listener that gave up.
	ListenerID string `json:"listener_id"`
	// Event is the event itself, as the listener received it.
	Event shared.Event `json:"-"`
	// Err is the last error; Error is its text.
	Err   error  `json:"-"`
	Error string `json:"error"`
	// Attempts is the number of attempts made, when the error says so:
	// the AttemptCount of the first AttemptCounter in Err's chain (a
	// *RetryError, the bus's *DeadLetterError, or any error of the
	// caller's that implements it); 0 when unknown.
	Attempts int `json:"attempts,omitempty"`
	// At is when the event was dead-lettered.
	At time.Time `json:"at"`
}

// DeadLetterFilter selects dead letters. Its zero value selects all of them.
type DeadLetterFilter struct {
	ListenerID string // only this listener's, if set
	EventType  string // only events of this type, if set
	Limit      int    // at most this many (the oldest first), if > 0
}

func (f DeadLetterFilter) match(d *DeadLetter) bool {
	if f.ListenerID != "" && d.ListenerID != f.ListenerID {
		return false
	}
	if f.EventType != "" && (shared.IsNil(d.Event) || d.Event.Type() != f.EventType) {
		return false
	}
	return true
}

// DeadLetterStore keeps dead letters until they are redriven or removed.
// Implementations must be safe for concurrent use. The manager calls Add
// on the goroutine that gives up on the event, so Add should be quick.
type DeadLetterStore interface {
	// Add keeps d. A bounded store that drops older entries to make room
	// returns how many it dropped.
	Add(ctx context.Context, d DeadLetter) (dropped int, err error)
	// List returns the entries f selects, the oldest first.
	List(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error)
	// Get returns one entry, or an error matching ErrDeadLetterNotFound.
	Get(ctx context.Context, id string) (DeadLetter, error)
	// Remove deletes one entry, or returns an error matching
	// ErrDeadLetterNotFound.
	Remove(ctx context.Context, id string) error
	// Len returns the number of entries.
	Len(ctx context.Context) (int, error)
}

// MemoryDeadLetterStore is the default DeadLetterStore: in memory, bounded, evicting
// the oldest entry when full. It is safe for concurrent use; every method is
// O(1) except List, which is O(n).
type MemoryDeadLetterStore struct {
	mu       sync.Mutex
	capacity int
	order    *list.List // of *DeadLetter, oldest at the front
	byID     map[string]*list.Element
	evicted  uint64
}

// MemoryStore is MemoryDeadLetterStore.
//
// Deprecated: use MemoryDeadLetterStore; "MemoryStore" read as an event
// store.
type MemoryStore = MemoryDeadLetterStore

// NewMemoryStore is NewMemoryDeadLetterStore.
//
// Deprecated: use NewMemoryDeadLetterStore.
func NewMemoryStore(capacity int) *MemoryDeadLetterStore { return NewMemoryDeadLetterStore(capacity) }

// NewMemoryDeadLetterStore returns a store holding at most capacity entries
// (DefaultDeadLetterCapacity if capacity <= 0).
func NewMemoryDeadLetterStore(capacity int) *MemoryDeadLetterStore {
	if capacity <= 0 {
		capacity = DefaultDeadLetterCapacity
	}
	return &MemoryDeadLetterStore{capacity: capacity, order: list.New(), byID: make(map[string]*list.Element)}
}

// Add keeps d, evicting the oldest entries beyond the capacity. An entry
// with an ID already held replaces it.
func (s *MemoryDeadLetterStore) Add(_ context.Context, d DeadLetter) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byID[d.ID]; ok {
		s.order.Remove(el)
	}
	s.byID[d.ID] = s.order.PushBack(&d)
	dropped := 0
	for s.order.Len() > s.capacity {
		old := s.order.Remove(s.order.Front()).(*DeadLetter)
		delete(s.byID, old.ID)
		dropped++
	}
	s.evicted += uint64(dropped)
	return dropped, nil
}

// List returns copies of the selected entries, the oldest first.
func (s *MemoryDeadLetterStore) List(_ context.Context, f DeadLetterFilter) ([]DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DeadLetter
	for el := s.order.Front(); el != nil; el = el.Next() {
		d := el.Value.(*DeadLetter)
		if !f.match(d) {
			continue
		}
		out = append(out, *d)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// Get returns a copy of one entry.
func (s *MemoryDeadLetterStore) Get(_ context.Context, id string) (DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byID[id]
	if !ok {
		return DeadLetter{}, notFound(id)
	}
	return *el.Value.(*DeadLetter), nil
}

// Remove deletes one entry.
func (s *MemoryDeadLetterStore) Remove(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byID[id]
	if !ok {
		return notFound(id)
	}
	s.order.Remove(el)
	delete(s.byID, id)
	return nil
}

// Len returns the number of entries.
func (s *MemoryDeadLetterStore) Len(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len(), nil
}

// Evicted returns how many entries were dropped to make room.
func (s *MemoryDeadLetterStore) Evicted() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evicted
}

func notFound(id string) error {
	return &dlNotFoundError{id: id}
}

type dlNotFoundError struct{ id string }

func (e *dlNotFoundError) Error() string {
	return "listener: dead letter " + quote(e.id) + " not found"
}
func (e *dlNotFoundError) Unwrap() error { return ErrDeadLetterNotFound }

var _ DeadLetterStore = (*MemoryDeadLetterStore)(nil)
