// Package storetest is the conformance suite of Nova's event stores. Every
// implementation of store.EventStore runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.EventStore {
//			return memory.New(memory.Config{})
//		})
//	}
//
// Run checks what the store package promises: versions and positions that
// are gap-free in a fresh store and never change, atomic batches, optimistic
// concurrency under concurrent writers, subscriptions that catch up and then
// follow live appends with every event exactly once and in order (a late
// subscriber, a slow one, many writers), retention that keeps positions and
// reports every event it removed, also the holes that trimming one stream
// leaves in the positions of all streams (for stores that implement
// store.Trimmer), limits (with WithLimits), Close, and bad input refused with
// the documented errors and without writing anything.
//
// Each subtest gets a fresh store from newStore, which should register its
// own cleanup; the suite also closes it. Stores that encode events must
// register the suite's payload type with Register, so that Data comes back
// as a Payload. Timestamps may come back rounded to the microsecond.
//
// Bench is the shared benchmark: append, batch append, reading the last
// events of a stream, and delivery to a subscriber.
//
// The suite starts goroutines only inside its subtests and waits for them
// before each subtest ends.
package storetest
