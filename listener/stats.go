package listener

import (
	"context"
	"slices"
	"strings"
)

// ListenerStats counts one listener's attempts. Attempts = Successes +
// Failures; Timeouts and Panics are among the Failures; Rejected attempts
// were refused by the open breaker without calling the handler.
type ListenerStats struct {
	ID                   string
	Attempts             uint64
	Successes            uint64
	Failures             uint64
	Timeouts             uint64
	Panics               uint64
	Rejected             uint64
	Retries              uint64 // retries scheduled (Handle waits and Retry)
	DeadLettered         uint64 // events given up on and stored
	DeadLettersDiscarded uint64 // events given up on with dead letters not enabled
	InFlight             int64
	Circuit              CircuitState
	CircuitOpens         uint64 // times the breaker opened
}

// Stats is a snapshot of a Manager's counters. It is a copy: later
// activity does not change it.
type Stats struct {
	// Listeners holds the registered listeners, sorted by ID.
	Listeners []ListenerStats
	// Unregistered sums the failed attempts (Attempts = Failures), retries
	// and dead letters of listeners that are not registered: their
	// successes are not counted (the dispatchers count what they
	// delivered), so that their success path pays for no shared counter.
	Unregistered ListenerStats

	DeadLettersStored         uint64 // kept in the store
	DeadLettersEvicted        uint64 // dropped by a full store to make room
	DeadLettersLost           uint64 // neither stored nor handled: the store failed
	DeadLetterStoreErrors     uint64 // DeadLetterStore.Add failures
	DeadLettersInStore        int    // the store's current Len (-1 if it failed)
	DeadLettersRedriven       uint64
	DeadLetterHandlerQueued   int    // waiting for their Handler
	DeadLetterHandlerOverflow uint64 // not handed to Handler: its queue was full (still stored)
	DeadLetterHandlerSkipped  uint64 // not handed to Handler: the manager was stopped (still stored)
	DeadLetterHandlerPanics   uint64
	CallbacksDropped          uint64 // state changes not passed to OnStateChange: queue full or stopped
	CallbackPanics            uint64
}

// Stats returns a snapshot of the manager's counters.
func (m *Manager) Stats() Stats {
	m.init()
	regs := m.regs.Load().list
	s := Stats{Listeners: make([]ListenerStats, 0, len(regs))}
	m.mu.Lock()
	dlqs := slices.Clone(m.routeDLQs)
	m.mu.Unlock()
	for _, r := range regs {
		s.Listeners = append(s.Listeners, r.stats())
		if r.dlq != nil {
			dlqs = append(dlqs, r.dlq)
		}
	}
	for _, d := range dlqs {
		s.DeadLetterHandlerQueued += d.Queued()
		s.DeadLetterHandlerOverflow += d.Overflow()
		s.DeadLetterHandlerSkipped += d.Skipped()
		s.DeadLetterHandlerPanics += d.Panics()
	}
	slices.SortFunc(s.Listeners, func(a, b ListenerStats) int { return strings.Compare(a.ID, b.ID) })
	s.Unregistered = m.unreg.stats()
	s.DeadLettersStored = m.dlStored.Load()
	s.DeadLettersEvicted = m.dlEvicted.Load()
	s.DeadLettersLost = m.dlLost.Load()
	s.DeadLetterStoreErrors = m.dlStoreErrs.Load()
	s.DeadLettersRedriven = m.dlRedriven.Load()
	if n, err := m.store.Len(context.Background()); err == nil {
		s.DeadLettersInStore = n
	} else {
		s.DeadLettersInStore = -1
	}
	s.CallbacksDropped = m.callbacks.Overflow() + m.callbacks.Skipped()
	s.CallbackPanics = m.callbacks.Panics()
	return s
}

func (r *reg) stats() ListenerStats {
	ls := ListenerStats{
		ID:                   r.id,
		Failures:             r.failures.Load(),
		Timeouts:             r.timeouts.Load(),
		Panics:               r.panics.Load(),
		Rejected:             r.rejected.Load(),
		Retries:              r.retries.Load(),
		DeadLettered:         r.deadLetters.Load(),
		DeadLettersDiscarded: r.discarded.Load(),
	}
	finished := r.finished.Load()
	ls.InFlight = int64(r.started.Load() - finished)
	ls.Attempts = finished
	ls.Successes = finished - min(ls.Failures, finished)
	if r.breaker != nil {
		ls.Circuit = r.breaker.State()
		ls.CircuitOpens = r.breaker.opens.Load()
	}
	return ls
}
