package bus

import (
	"context"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// MemoryBroker is the default Broker: each partition is a ring of capacity
// messages shared by all its consumers, so fanning an event out to many
// subscribers copies nothing. A slot is reused once every consumer has
// acknowledged its message. Nothing survives the process.
//
// It is safe for concurrent use and starts no goroutines. Append costs one
// mutex and no allocation; Next, Ack and Backlog are lock-free.
type MemoryBroker struct{}

// NewMemoryBroker returns the in-memory broker.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{} }

// OpenPartition returns a new, empty partition; the memory broker keeps no
// registry, so reopening a topic starts afresh. The ring takes 64 bytes per
// slot, capacity rounded up to a power of two.
func (*MemoryBroker) OpenPartition(_ string, _ int, capacity int) (Partition, error) {
	if capacity <= 0 {
		capacity = DefaultBufferSize
	}
	size := 1 << bits.Len(uint(capacity-1)) // next power of two ≥ capacity
	p := &memPartition{
		ring:     make([]memSlot, size),
		mask:     uint64(size - 1),
		capacity: uint64(capacity),
		// A waiting publisher is woken when an eighth of the partition
		// (at most 64 slots) is free.
		hysteresis: uint64(max(1, min(capacity/8, 64))),
		space:      make(chan struct{}),
		closedCh:   make(chan struct{}),
		drained:    make(chan struct{}),
	}
	return p, nil
}

// memSlot is one message, padded to a cache line so that a consumer reading
// one slot does not contend with the publisher writing the next.
type memSlot struct {
	ev       shared.Event
	key      string
	accepted int64 // Unix nanoseconds, 0 if not set
	priority workerpool.Priority
	_        [16]byte
}

func (s *memSlot) message(seq uint64) Message {
	m := Message{Seq: seq, Event: s.ev, Key: s.key, Priority: s.priority}
	if s.accepted != 0 {
		m.Accepted = time.Unix(0, s.accepted)
	}
	return m
}

// memPartition is a ring indexed by sequence number. Publishers write the
// slot at head under mu and then publish head atomically; consumers read
// slots below head without the lock. A slot is rewritten only when every
// cursor's watermark (all below it acknowledged) has passed it, which each
// cursor publishes atomically after its last read of the slot.
//
// The fields are grouped by who writes them, each group on its own cache
// lines: the read-only ring description, the rarely written wake-up state
// that every Ack reads, and the publisher's state (mu and head share a line:
// Append writes both).
type memPartition struct {
	ring       []memSlot
	mask       uint64
	capacity   uint64
	hysteresis uint64 // how many free slots a waiting publisher waits for
	_          [24]byte

	waiters  atomic.Int32  // publishers waiting for room
	isClosed atomic.Bool   // Close was called
	wakeAt   atomic.Uint64 // wake the waiters once every cursor's watermark is here
	_        [48]byte

	mu       sync.Mutex
	head     atomic.Uint64 // next sequence number to write
	tail     uint64        // lowest watermark seen: everything below is free
	cursors  []*memCursor  // copied on change
	closed   bool
	space    chan struct{} // closed and replaced to wake waiting publishers
	closedCh chan struct{}
	drained  chan struct{}
	drainOK  bool
}

func (p *memPartition) Append(ctx context.Context, m Message, wait bool) (int, error) {
	p.mu.Lock()
	waiting := false
	for {
		if p.closed {
			p.mu.Unlock()
			if waiting {
				p.waiters.Add(-1)
			}
			return 0, ErrClosed
		}
		h := p.head.Load()
		if h-p.tail >= p.capacity {
			p.tail = p.lowWater(h)
		}
		if h-p.tail < p.capacity {
			if waiting {
				p.waiters.Add(-1)
			}
			m.Seq = h
			var acc int64
			if !m.Accepted.IsZero() {
				acc = m.Accepted.UnixNano()
			}
			p.ring[h&p.mask] = memSlot{ev: m.Event, key: m.Key, accepted: acc, priority: m.Priority}
			p.head.Store(h + 1)
			cs := p.cursors
			p.mu.Unlock()
			for _, c := range cs {
				c.notify(m)
			}
			return len(cs), nil
		}
		if !wait {
			p.mu.Unlock()
			return 0, ErrBufferFull
		}
		if !waiting {
			// Announce the wait before looking again, so that a cursor
			// acknowledging after our look sees the announcement and wakes us.
			waiting = true
			p.waiters.Add(1)
			continue
		}
		// Ask to be woken once a batch of slots is free rather than one, so
		// that a publisher faster than its consumers is not woken per event.
		p.wakeAt.Store(p.tail + p.hysteresis)
		ch := p.space
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.closedCh:
		case <-ctx.Done():
			p.waiters.Add(-1)
			return 0, ctx.Err()
		}
		p.mu.Lock()
	}
}

// lowWater returns the lowest watermark of the attached cursors, or h when
// none is attached. Called with mu held.
func (p *memPartition) lowWater(h uint64) uint64 {
	low := h
	for _, c := range p.cursors {
		if w := c.wm.Load(); w < low {
			low = w
		}
	}
	return low
}

// acked is called by a cursor whose watermark moved to wm: it wakes the
// waiting publishers once the partition's low watermark reaches wakeAt.
func (p *memPartition) acked(wm uint64) {
	if p.waiters.Load() == 0 || wm < p.wakeAt.Load() {
		return
	}
	p.mu.Lock()
	if h := p.head.Load(); p.lowWater(h) >= p.wakeAt.Load() {
		p.wakeLocked()
	}
	p.mu.Unlock()
}

// wakeLocked wakes every waiting publisher. Called with mu held. Until one
// of them waits again, acknowledgements need not wake anyone.
func (p *memPartition) wakeLocked() {
	p.wakeAt.Store(math.MaxUint64)
	close(p.space)
	p.space = make(chan struct{})
}

func (p *memPartition) Attach(name string, notify func(Message)) (Cursor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.head.Load()
	c := &memCursor{p: p, name: name, notify: notify, ring: p.ring, mask: p.mask, next: h, head: h, acked: make([]uint64, (len(p.ring)+63)/64)}
	c.wm.Store(h)
	p.cursors = append(slices.Clip(p.cursors), c)
	return c, nil
}

func (p *memPartition) detach(c *memCursor) {
	p.mu.Lock()
	p.cursors = slices.DeleteFunc(slices.Clone(p.cursors), func(x *memCursor) bool { return x == c })
	if p.waiters.Load() > 0 {
		p.wakeLocked()
	}
	p.mu.Unlock()
	p.checkDrained()
}

func (p *memPartition) Depth() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.head.Load()
	return int(h - p.lowWater(h))
}

func (p *memPartition) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.isClosed.Store(true)
		close(p.closedCh)
	}
	p.mu.Unlock()
	p.checkDrained()
}

func (p *memPartition) Drained() <-chan struct{} { return p.drained }

// checkDrained closes drained once the partition is closed and every cursor
// has acknowledged everything.
func (p *memPartition) checkDrained() {
	if !p.isClosed.Load() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drainOK || p.lowWater(p.head.Load()) != p.head.Load() {
		return
	}
	p.drainOK = true
	close(p.drained)
}

// memCursor is one consumer's read position and acknowledgements. Its owner
// serialises Next, Ack, Nack and Backlog; wm is read by publishers.
type memCursor struct {
	p      *memPartition
	name   string
	notify func(Message)
	ring   []memSlot // the partition's, copied to keep reads off its lines
	mask   uint64

	next      uint64   // next sequence number to return
	head      uint64   // the partition's head when last read
	acked     []uint64 // bitmap of acknowledged sequence numbers ≥ wm, by seq & mask
	redeliver []uint64 // handed back by Nack, returned by Next first
	detached  atomic.Bool
	_         [40]byte
	wm        atomic.Uint64 // every sequence number below is acknowledged
}

func (c *memCursor) Next() (Message, bool) {
	if c.detached.Load() {
		return Message{}, false
	}
	if len(c.redeliver) > 0 {
		seq := c.redeliver[0]
		c.redeliver = c.redeliver[1:]
		return c.ring[seq&c.mask].message(seq), true
	}
	if c.next >= c.head {
		// Read the shared head only when the messages known are used up.
		if c.head = c.p.head.Load(); c.next >= c.head {
			return Message{}, false
		}
	}
	seq := c.next
	c.next++
	return c.ring[seq&c.mask].message(seq), true
}

func (c *memCursor) Backlog() int {
	if c.detached.Load() {
		return 0
	}
	c.head = c.p.head.Load()
	return int(c.head-c.next) + len(c.redeliver)
}

func (c *memCursor) Ack(seq uint64) {
	w := c.wm.Load()
	if seq < w || seq >= c.next || c.detached.Load() {
		return
	}
	if seq != w {
		i := seq & c.mask
		c.acked[i/64] |= 1 << (i % 64)
		return
	}
	// seq is the watermark: advance past it and past every contiguous
	// acknowledgement that arrived out of order.
	w++
	for w < c.next {
		i := w & c.mask
		bit := uint64(1) << (i % 64)
		if c.acked[i/64]&bit == 0 {
			break
		}
		c.acked[i/64] &^= bit
		w++
	}
	c.wm.Store(w)
	c.p.acked(w)
	c.p.checkDrained()
}

func (c *memCursor) Nack(seq uint64) {
	if seq < c.wm.Load() || seq >= c.next || c.detached.Load() {
		return
	}
	i := seq & c.mask
	if c.acked[i/64]&(1<<(i%64)) != 0 || slices.Contains(c.redeliver, seq) {
		return
	}
	c.redeliver = append(c.redeliver, seq)
}

func (c *memCursor) Detach() {
	if c.detached.Swap(true) {
		return
	}
	c.p.detach(c)
}
