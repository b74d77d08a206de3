package bus

import (
	"context"
	"sync"
	"time"
)

// IdempotencyStore remembers which event IDs each subscriber has handled,
// so that ExactlyOnce topics hand an ID to a subscriber (or consumer group)
// once. scope names the topic and subscriber; id is the event ID.
//
// What the bus promises with it: an ID is handled successfully at most once
// per scope while the store remembers it, and (as with AtLeastOnce) each
// delivery is either handled or dead-lettered. A copy of an ID that arrives
// while the first is still being handled or retried is suppressed too; if
// the first is then given up on, the claim is released and a later copy is
// handled.
//
// What it cannot promise: the bus records success after the handler
// returns. If the process dies in between, or if the store is in memory and
// the process restarts, the record is lost and a redelivered event (from a
// durable broker or a publisher retrying) is handled again. Handlers whose
// effects must not repeat should also be idempotent on their own side (for
// example an upsert keyed by event ID in the same transaction), or use a
// durable store that they update in that transaction.
//
// Implementations must be safe for concurrent use.
type IdempotencyStore interface {
	// Claim records that id is being handled in scope. It returns false if
	// id was already claimed or completed there (and is remembered).
	Claim(ctx context.Context, scope, id string) (claimed bool, err error)
	// Complete records that id was handled successfully in scope.
	Complete(ctx context.Context, scope, id string) error
	// Release forgets a claim whose event was given up on.
	Release(ctx context.Context, scope, id string) error
}

// MemoryIdempotencyStore is the in-memory IdempotencyStore: a window of at
// most maxEntries IDs (over all scopes), each remembered for ttl after its
// last claim or completion. When the window is full the oldest entry goes
// first, even one still being handled, so size it above the number of events
// a topic receives within ttl. It forgets everything when the process exits.
//
// It is safe for concurrent use; each call costs a mutex, a map operation
// and an amortised append, and starts no goroutine.
type MemoryIdempotencyStore struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	entries map[idKey]idEntry
	fifo    []idRecord // in time order; a record is stale if its gen differs from the entry's
	head    int
	gen     uint64
}

type idKey struct{ scope, id string }

type idEntry struct {
	gen  uint64
	done bool
}

type idRecord struct {
	key idKey
	gen uint64
	at  time.Time
}

// NewMemoryIdempotencyStore returns a store remembering at most maxEntries
// IDs for ttl each; values ≤ 0 mean DefaultIdempotencyWindow and
// DefaultIdempotencyTTL.
func NewMemoryIdempotencyStore(maxEntries int, ttl time.Duration) *MemoryIdempotencyStore {
	if maxEntries <= 0 {
		maxEntries = DefaultIdempotencyWindow
	}
	if ttl <= 0 {
		ttl = DefaultIdempotencyTTL
	}
	return &MemoryIdempotencyStore{max: maxEntries, ttl: ttl, entries: map[idKey]idEntry{}}
}

// Claim implements IdempotencyStore.
func (s *MemoryIdempotencyStore) Claim(_ context.Context, scope, id string) (bool, error) {
	now := time.Now()
	k := idKey{scope, id}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evict(now, 0)
	if _, ok := s.entries[k]; ok {
		return false, nil
	}
	s.evict(now, 1)
	s.touch(k, false, now)
	return true, nil
}

// Complete implements IdempotencyStore.
func (s *MemoryIdempotencyStore) Complete(_ context.Context, scope, id string) error {
	now := time.Now()
	k := idKey{scope, id}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[k]; !ok {
		s.evict(now, 1)
	}
	s.touch(k, true, now)
	return nil
}

// Release implements IdempotencyStore.
func (s *MemoryIdempotencyStore) Release(_ context.Context, scope, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, idKey{scope, id})
	return nil
}

// Len returns the number of IDs remembered.
func (s *MemoryIdempotencyStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evict(time.Now(), 0)
	return len(s.entries)
}

func (s *MemoryIdempotencyStore) touch(k idKey, done bool, now time.Time) {
	s.gen++
	s.entries[k] = idEntry{gen: s.gen, done: done}
	s.fifo = append(s.fifo, idRecord{key: k, gen: s.gen, at: now})
}

// evict drops expired entries, and the oldest ones until room more fit.
func (s *MemoryIdempotencyStore) evict(now time.Time, room int) {
	cutoff := now.Add(-s.ttl)
	for s.head < len(s.fifo) {
		r := s.fifo[s.head]
		e, live := s.entries[r.key]
		live = live && e.gen == r.gen
		if live && !r.at.Before(cutoff) && len(s.entries)+room <= s.max {
			break
		}
		if live {
			delete(s.entries, r.key)
		}
		s.fifo[s.head] = idRecord{}
		s.head++
	}
	// Compact once the consumed prefix is the larger part, and drop stale
	// records once they could outnumber the live ones (released claims and
	// completions leave one each), so the log stays within O(max).
	if s.head > 1024 && s.head*2 > len(s.fifo) {
		n := copy(s.fifo, s.fifo[s.head:])
		clear(s.fifo[n:])
		s.fifo = s.fifo[:n]
		s.head = 0
	}
	if len(s.fifo)-s.head > 2*s.max+1024 {
		live := s.fifo[:0]
		for _, r := range s.fifo[s.head:] {
			if e, ok := s.entries[r.key]; ok && e.gen == r.gen {
				live = append(live, r)
			}
		}
		clear(s.fifo[len(live):])
		s.fifo = live
		s.head = 0
	}
}
