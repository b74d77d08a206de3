package amqp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/workerpool"
)

// Headers the broker adds to an event's CloudEvents message.
const (
	headerKey      = "x-nova-key"      // the ordering key
	headerPriority = "x-nova-priority" // the pool lane, an int
	headerAccepted = "x-nova-accepted" // when Publish accepted it, Unix nanoseconds
	headerOrigin   = "x-nova-origin"   // the publishing partition, for its room accounting
	headerAppend   = "x-nova-append"   // the append number within that partition
)

var _ bus.AsyncPartition = (*partition)(nil)

// partition is one partition of a topic as this process sees it. It
// publishes to the topic's exchange with the partition's index as routing
// key, and bounds what this process holds of it: each appended event holds
// room until the broker confirmed it and every plain subscription of this
// process settled it (groups are not counted: another process may handle
// their share, and RabbitMQ keeps their backlog).
type partition struct {
	b        *Broker
	topic    string
	index    int
	key      string // routing key
	origin   string // headerOrigin value: broker ID and partition
	capacity int

	mu        sync.Mutex
	closed    bool
	next      uint64         // next append number
	low       uint64         // every append number below is settled
	waiters   int            // appends waiting for room
	remaining map[uint64]int // append number → confirm + plain cursors still to settle it
	cursors   []*cursor
	detached  []*cursor // detached, their goroutines maybe still running
	space     chan struct{}
	closedCh  chan struct{}
	drained   chan struct{}
	drainOK   bool
}

func newPartition(b *Broker, topic string, index, capacity int) *partition {
	return &partition{
		b: b, topic: topic, index: index, capacity: capacity,
		key:       strconv.Itoa(index),
		origin:    b.id + "/" + topic + "/" + strconv.Itoa(index),
		remaining: map[uint64]int{},
		space:     make(chan struct{}),
		closedCh:  make(chan struct{}),
		drained:   make(chan struct{}),
	}
}

// Append publishes m and returns once the broker confirmed it. It reports
// the consumers this process attached to the partition (at least 1 when
// RabbitMQ routed the event to a queue of another process), 0 when no
// queue was bound: nobody anywhere subscribed.
func (p *partition) Append(ctx context.Context, m bus.Message, wait bool) (int, error) {
	a, consumers, r, err := p.send(ctx, m, wait)
	if err != nil {
		return 0, err
	}
	// Accepted by the pipeline: the publish is bounded by PublishTimeout
	// from here, not by ctx.
	return p.confirmed(a, consumers, r.Wait(context.Background()))
}

// AppendAsync is Append returning once the event is in the publish
// pipeline; the broker's goroutine that follows confirms calls done.
func (p *partition) AppendAsync(ctx context.Context, m bus.Message, wait bool, done func(int, error)) error {
	a, consumers, r, err := p.send(ctx, m, wait)
	if err != nil {
		return err
	}
	p.b.follow(r, func(err error) { done(p.confirmed(a, consumers, err)) })
	return nil
}

// send takes room for m (waiting for it if wait) and hands m to the
// publisher. It returns m's append number, the consumers attached now and
// the publish's receipt.
func (p *partition) send(ctx context.Context, m bus.Message, wait bool) (uint64, int, *Receipt, error) {
	msg, err := p.b.cfg.Events.Encode(m.Event)
	if err != nil {
		return 0, 0, nil, err
	}
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return 0, 0, nil, bus.ErrClosed
		}
		if p.next-p.low < uint64(p.capacity) {
			break
		}
		if !wait {
			p.mu.Unlock()
			return 0, 0, nil, bus.ErrBufferFull
		}
		ch := p.space
		p.waiters++
		p.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-p.closedCh:
		case <-ctx.Done():
			err = ctx.Err()
		}
		p.mu.Lock()
		p.waiters--
		if err != nil {
			p.mu.Unlock()
			return 0, 0, nil, err
		}
	}
	a := p.next
	p.next++
	plain := 0
	for _, c := range p.cursors {
		if c.member == nil {
			c.owe(a)
			plain++
		}
	}
	p.remaining[a] = plain + 1
	consumers := len(p.cursors)
	p.mu.Unlock()

	msg.RoutingKey = p.key
	if plain > 0 {
		// Only this process's plain subscriptions need to recognise it.
		msg.Headers[headerOrigin] = p.origin
		msg.Headers[headerAppend] = int64(a)
	}
	if m.Key != "" {
		msg.Headers[headerKey] = m.Key
	}
	if m.Priority != workerpool.PriorityNormal {
		msg.Headers[headerPriority] = int32(m.Priority)
	}
	if !m.Accepted.IsZero() {
		msg.Headers[headerAccepted] = m.Accepted.UnixNano()
	}
	r, err := p.b.pub.PublishAsync(ctx, p.b.Exchange(p.topic), msg)
	if err != nil {
		_, err = p.confirmed(a, 0, err)
		return 0, 0, nil, err
	}
	return a, consumers, r, nil
}

// confirmed settles append a with the publish's outcome and returns what
// Append returns.
func (p *partition) confirmed(a uint64, consumers int, err error) (int, error) {
	switch {
	case err == nil:
		p.settle(a)
		return max(consumers, 1), nil
	case errors.Is(err, ErrUnroutable):
		p.abandon(a)
		return 0, nil
	case errors.Is(err, ErrClosed):
		p.abandon(a)
		return 0, bus.ErrClosed
	case errors.Is(err, ErrBufferFull):
		p.abandon(a)
		return 0, bus.ErrBufferFull
	}
	p.abandon(a)
	return 0, fmt.Errorf("amqp: publish to partition %d of %q: %w", p.index, p.topic, err)
}

// settle records that one holder of append a (the confirm, or a plain
// cursor) is done with it.
func (p *partition) settle(a uint64) {
	p.mu.Lock()
	n, ok := p.remaining[a]
	if !ok {
		p.mu.Unlock()
		return
	}
	if n > 1 {
		p.remaining[a] = n - 1
		p.mu.Unlock()
		return
	}
	delete(p.remaining, a)
	// Room comes back in append order, as in the in-memory broker: a
	// later event settled first waits for the earlier ones.
	if a == p.low {
		for p.low < p.next {
			if _, ok := p.remaining[p.low]; ok {
				break
			}
			p.low++
		}
		if p.waiters > 0 {
			close(p.space)
			p.space = make(chan struct{})
		}
	}
	quiesce := p.closed && len(p.remaining) == 0
	cs := p.cursors
	p.mu.Unlock()
	if quiesce {
		// Every local subscription has what this process published: the
		// plain ones may stop consuming.
		for _, c := range cs {
			c.quiesce()
		}
	}
	p.checkDrained()
}

// abandon forgets append a, which never reached the broker's queues.
func (p *partition) abandon(a uint64) {
	p.mu.Lock()
	for _, c := range p.cursors {
		c.forgive(a)
	}
	p.remaining[a] = 1
	p.mu.Unlock()
	p.settle(a)
}

func (p *partition) Attach(name string, notify func(bus.Message)) (bus.Cursor, error) {
	if notify == nil {
		notify = func(bus.Message) {}
	}
	c, err := newCursor(p, name, notify)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		c.quiet = true
	}
	p.cursors = append(slices.Clip(p.cursors), c)
	p.mu.Unlock()
	c.start()
	return c, nil
}

// attached returns the cursors attached now.
func (p *partition) attached() []*cursor {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.cursors)
}

// detachedCursors returns every cursor ever attached and since detached.
func (p *partition) detachedCursors() []*cursor {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.detached)
}

// detach removes c and settles what it owed.
func (p *partition) detach(c *cursor, owed []uint64) {
	p.mu.Lock()
	p.cursors = slices.DeleteFunc(slices.Clone(p.cursors), func(x *cursor) bool { return x == c })
	p.detached = append(p.detached, c)
	p.mu.Unlock()
	for _, a := range owed {
		p.settle(a)
	}
	p.checkDrained()
}

// Depth is what this process holds of the partition: events it published
// that the broker has not confirmed or a plain subscription of this process
// has not settled, plus what the group members of this process received and
// did not settle.
func (p *partition) Depth() int {
	p.mu.Lock()
	n := int(p.next - p.low)
	cs := p.cursors
	p.mu.Unlock()
	for _, c := range cs {
		if c.member != nil {
			n += c.held()
		}
	}
	return n
}

// Close refuses further appends. Group members of this process hand their
// partitions over once they settled what they received; plain subscriptions
// keep consuming until they have every event this process published.
func (p *partition) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.closedCh)
	quiesceAll := len(p.remaining) == 0
	cs := p.cursors
	p.mu.Unlock()
	for _, c := range cs {
		if quiesceAll || c.member != nil {
			c.quiesce()
		}
	}
	p.checkDrained()
}

func (p *partition) Drained() <-chan struct{} { return p.drained }

// checkDrained closes drained once the partition is closed, nothing this
// process published is unsettled, and every attached cursor has stopped
// consuming and settled what it received.
func (p *partition) checkDrained() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed || p.drainOK || len(p.remaining) > 0 {
		return
	}
	for _, c := range p.cursors {
		if !c.idle() {
			return
		}
	}
	p.drainOK = true
	close(p.drained)
}

// waitConsuming is used by tests: it waits until every attached cursor has
// a consuming channel open, or until ctx ends.
func (p *partition) waitConsuming(ctx context.Context) error {
	for {
		ready := true
		for _, c := range p.attached() {
			if !c.isConsuming() {
				ready = false
			}
		}
		if ready {
			return nil
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}
