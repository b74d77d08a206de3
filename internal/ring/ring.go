// Package ring is a bounded, lock-free, multi-producer multi-consumer queue
// (after Dmitry Vyukov's design): every slot carries a sequence number that
// says whether it is free for the producer of a given position or full for
// its consumer, so producers and consumers only contend on their own index.
//
// Push and Pop never block and never allocate. Callers build waiting on top
// (the emitter parks producers on a channel when Push reports full).
package ring

import "sync/atomic"

type slot[T any] struct {
	seq atomic.Uint64
	val T
}

// Ring is a fixed-capacity FIFO safe for any number of concurrent producers
// and consumers. The zero value is not usable; call New.
type Ring[T any] struct {
	_     [64]byte
	tail  atomic.Uint64 // next position to push
	_     [56]byte
	head  atomic.Uint64 // next position to pop
	_     [56]byte
	slots []slot[T]
	size  uint64
	mask  uint64 // size-1 when size is a power of two, else 0
	one   bool   // capacity 1: two slots, with the bound checked in Push
}

// New returns a ring that holds exactly capacity items (at least 1).
func New[T any](capacity int) *Ring[T] {
	one := capacity <= 1
	if one {
		// The sequence scheme needs two slots to tell full from free.
		capacity = 2
	}
	r := &Ring[T]{slots: make([]slot[T], capacity), size: uint64(capacity), one: one}
	if capacity&(capacity-1) == 0 {
		r.mask = uint64(capacity - 1)
	}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
	return r
}

func (r *Ring[T]) at(pos uint64) *slot[T] {
	if r.mask != 0 {
		return &r.slots[pos&r.mask]
	}
	return &r.slots[pos%r.size]
}

// Push appends v and reports true, or reports false if the ring is full.
func (r *Ring[T]) Push(v T) bool {
	pos := r.tail.Load()
	for {
		s := r.at(pos)
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if r.one && pos != r.head.Load() {
				return false
			}
			if r.tail.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1)
				return true
			}
			pos = r.tail.Load()
		case d < 0:
			return false
		default:
			pos = r.tail.Load()
		}
	}
}

// Pop removes the oldest item, or reports false if none is ready. An item
// whose Push is still in progress is not ready yet.
func (r *Ring[T]) Pop() (T, bool) {
	pos := r.head.Load()
	for {
		s := r.at(pos)
		seq := s.seq.Load()
		switch d := int64(seq - (pos + 1)); {
		case d == 0:
			if r.head.CompareAndSwap(pos, pos+1) {
				v := s.val
				var zero T
				s.val = zero
				s.seq.Store(pos + r.size)
				return v, true
			}
			pos = r.head.Load()
		case d < 0:
			var zero T
			return zero, false
		default:
			pos = r.head.Load()
		}
	}
}

// Len is the number of items pushed (or being pushed) and not yet popped.
func (r *Ring[T]) Len() int {
	for {
		head := r.head.Load()
		tail := r.tail.Load()
		if r.head.Load() == head {
			if tail < head {
				return 0
			}
			return int(tail - head)
		}
	}
}

// Cap returns the capacity.
func (r *Ring[T]) Cap() int {
	if r.one {
		return 1
	}
	return int(r.size)
}
