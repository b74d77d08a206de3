package bus

// Hooks into the bus's internals for the external tests.

// SetDrainIdleHook makes fn run whenever a drainer of b finds nothing to
// take, just before it gives its slot back. Set it before the bus has work.
func SetDrainIdleHook(b *Bus, fn func()) { b.testDrainIdle = fn }

// SetGroupCursor sets the round-robin counter of consumer group group on
// topic, as if v members had been picked already.
func SetGroupCursor(b *Bus, topic, group string, v uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.lookup(topic); t != nil {
		if c := t.consumers["group:"+group]; c != nil {
			c.rr.Store(v)
		}
	}
}

// IdempotencyLog returns the length and capacity of s's internal log of
// records, which must stay bounded however many IDs go through it.
func IdempotencyLog(s *MemoryIdempotencyStore) (length, capacity int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.fifo), cap(s.fifo)
}

// RetiredLanes is the number of removed lanes the bus still holds because
// a drainer of theirs is running.
func RetiredLanes(b *Bus) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.retired.lanes)
}
