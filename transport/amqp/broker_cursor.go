package amqp

import (
	"context"
	"strings"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/workerpool"
)

// cursor is one consumer of one partition in this process: a plain
// subscription (its own queue) or this process's member of a consumer group
// (the group's single-active-consumer queue, consumed while the group
// assigns the partition here). One goroutine consumes it across
// reconnections; the bus takes its messages with Next and settles them with
// Ack, which acknowledges them on the broker.
type cursor struct {
	p        *partition
	name     string
	queue    string
	member   *member // nil for a plain subscription
	notify   func(bus.Message)
	slot     *slot
	prefetch int

	mu        sync.Mutex
	buf       []*entry // received, not yet returned by Next
	redeliver []*entry // handed back by Nack
	inflight  map[uint64]*entry
	acks      map[*amqp091.Channel]*chanAcks
	seq       uint64
	owed      map[uint64]struct{} // append numbers of this process's publishes still to settle
	want      bool                // should consume
	quiet     bool                // the partition closed: stop once done, for good
	consuming bool                // a channel is open
	releasing bool                // handing the channel back: buf is not served
	detached  bool

	wake    chan struct{} // cap 1: want changed
	settled chan struct{} // cap 1: something was settled
	stopCh  chan struct{} // closed by Detach
	done    chan struct{} // closed when the goroutine ends
}

// entry is one delivery.
type entry struct {
	msg    bus.Message
	ch     *amqp091.Channel
	tag    uint64
	append uint64
	owed   bool
}

func newCursor(p *partition, name string, notify func(bus.Message)) (*cursor, error) {
	b := p.b
	c := &cursor{
		p: p, name: name, notify: notify,
		prefetch: min(b.cfg.Prefetch, p.capacity),
		inflight: map[uint64]*entry{},
		acks:     map[*amqp091.Channel]*chanAcks{},
		owed:     map[uint64]struct{}{},
		wake:     make(chan struct{}, 1),
		settled:  make(chan struct{}, 1),
		stopCh:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.PublishTimeout)
	defer cancel()
	var q Queue
	if group, ok := strings.CutPrefix(name, "group:"); ok {
		if group == "" {
			return nil, configErrorf("SubscribeGroup", "empty group name")
		}
		c.queue = b.GroupQueue(p.topic, group, p.index)
		q = Queue{Name: c.queue, Type: Quorum, Args: Table{"x-single-active-consumer": true}}
		if b.cfg.ClassicQueues {
			q.Type = Classic
		}
	} else {
		c.queue = b.subQueue(p.topic, name, p.index)
		q = Queue{Name: c.queue, Args: Table{"x-expires": b.cfg.SubscriptionExpiry.Milliseconds()}}
		c.want = true
	}
	err := b.c.Declare(ctx, Topology{
		Queues:   []Queue{q},
		Bindings: []Binding{{Queue: c.queue, Exchange: b.Exchange(p.topic), Key: p.key}},
	})
	if err != nil {
		return nil, err
	}
	if group, ok := strings.CutPrefix(name, "group:"); ok {
		m, err := b.joinGroup(p.topic, group)
		if err != nil {
			return nil, err
		}
		c.member = m
	}
	return c, nil
}

func (c *cursor) start() {
	c.slot = c.p.b.c.assign()
	if c.member != nil {
		c.member.add(c)
	}
	go c.run()
}

// owe and forgive are called by the partition under its lock.
func (c *cursor) owe(a uint64) {
	c.mu.Lock()
	if !c.detached {
		c.owed[a] = struct{}{}
	}
	c.mu.Unlock()
}

func (c *cursor) forgive(a uint64) {
	c.mu.Lock()
	delete(c.owed, a)
	c.mu.Unlock()
}

func (c *cursor) Next() (bus.Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.detached {
		return bus.Message{}, false
	}
	if len(c.redeliver) > 0 {
		e := c.redeliver[0]
		c.redeliver[0] = nil
		c.redeliver = c.redeliver[1:]
		return e.msg, true
	}
	if len(c.buf) == 0 || c.releasing {
		return bus.Message{}, false
	}
	e := c.buf[0]
	c.buf[0] = nil
	c.buf = c.buf[1:]
	c.inflight[e.msg.Seq] = e
	return e.msg, true
}

func (c *cursor) Backlog() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.detached {
		return 0
	}
	if c.releasing {
		return len(c.redeliver)
	}
	return len(c.buf) + len(c.redeliver)
}

func (c *cursor) Ack(seq uint64) {
	c.mu.Lock()
	e := c.inflight[seq]
	if e == nil || c.detached {
		c.mu.Unlock()
		return
	}
	delete(c.inflight, seq)
	if i := indexOf(c.redeliver, e); i >= 0 {
		c.redeliver = append(c.redeliver[:i], c.redeliver[i+1:]...)
	}
	owed := false
	if e.owed {
		_, owed = c.owed[e.append]
		delete(c.owed, e.append)
	}
	if st := c.acks[e.ch]; st != nil {
		st.settle(e.tag)
		st.send(e.ch, false)
	}
	c.mu.Unlock()
	if owed {
		c.p.settle(e.append)
	}
	c.signal(c.settled)
	c.p.checkDrained()
}

// ackBatch is how many settled deliveries one channel may leave
// unacknowledged on the broker while more are waiting to be handled: they
// are then acknowledged with one multiple ack. When nothing received is
// waiting, every settlement is acknowledged at once.
const ackBatch = 32

// chanAcks batches the acknowledgements of one channel. Delivery tags grow
// by one per delivery; a multiple ack of tag t acknowledges every tag up to
// t, so it is sent only for a prefix of tags all settled.
type chanAcks struct {
	delivered uint64              // highest tag received
	contig    uint64              // every tag up to here is settled
	acked     uint64              // every tag up to here is acknowledged on the broker
	settled   map[uint64]struct{} // settled tags above contig
}

func (st *chanAcks) settle(tag uint64) {
	if tag != st.contig+1 {
		if st.settled == nil {
			st.settled = map[uint64]struct{}{}
		}
		st.settled[tag] = struct{}{}
		return
	}
	st.contig = tag
	for len(st.settled) > 0 {
		if _, ok := st.settled[st.contig+1]; !ok {
			break
		}
		delete(st.settled, st.contig+1)
		st.contig++
	}
}

// send acknowledges the settled prefix when the batch is full, when
// nothing else received is unsettled, or when flush is set. Called with the
// cursor's lock held, so that acks of one channel go out in tag order.
func (st *chanAcks) send(ch *amqp091.Channel, flush bool) {
	if st.contig == st.acked {
		return
	}
	if flush || st.contig == st.delivered || st.contig-st.acked >= ackBatch {
		// On a channel lost since, the broker has requeued the messages
		// and delivers them again: the acknowledgement fails, harmlessly.
		_ = ch.Ack(st.contig, true)
		st.acked = st.contig
	}
}

// flushAcks acknowledges what is settled on ch before it closes.
func (c *cursor) flushAcks(ch *amqp091.Channel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.acks[ch]; st != nil {
		st.send(ch, true)
	}
}

func (c *cursor) Nack(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.inflight[seq]
	if e == nil || c.detached || indexOf(c.redeliver, e) >= 0 {
		return
	}
	c.redeliver = append(c.redeliver, e)
}

func indexOf(es []*entry, e *entry) int {
	for i, x := range es {
		if x == e {
			return i
		}
	}
	return -1
}

// Detach stops consuming: what the cursor received and did not settle goes
// back to the broker when its channel closes. A plain subscription's queue
// is deleted; a group's stays for the other members (or the next one).
func (c *cursor) Detach() {
	c.mu.Lock()
	if c.detached {
		c.mu.Unlock()
		return
	}
	c.detached = true
	owed := make([]uint64, 0, len(c.owed))
	for a := range c.owed {
		owed = append(owed, a)
	}
	clear(c.owed)
	c.buf, c.redeliver = nil, nil
	clear(c.inflight)
	c.mu.Unlock()
	close(c.stopCh)
	if c.member != nil {
		c.member.remove(c)
	}
	c.p.detach(c, owed)
}

// wait waits for the cursor's goroutine to end.
func (c *cursor) wait(ctx context.Context) error { return waitClosed(ctx, c.done) }

func (c *cursor) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// setWant tells the cursor to consume or to hand its partition back.
func (c *cursor) setWant(v bool) {
	c.mu.Lock()
	if v && c.quiet {
		c.mu.Unlock()
		return
	}
	changed := c.want != v
	c.want = v
	c.mu.Unlock()
	if changed {
		c.signal(c.wake)
	}
}

// quiesce stops consuming for good, once what was received is settled.
func (c *cursor) quiesce() {
	c.mu.Lock()
	c.quiet = true
	c.want = false
	c.mu.Unlock()
	c.signal(c.wake)
}

// held is how many received messages are not settled.
func (c *cursor) held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buf) + len(c.inflight)
}

// idle reports a cursor that is not consuming, will not, and holds nothing.
func (c *cursor) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.detached || (c.quiet && !c.consuming && len(c.buf)+len(c.inflight) == 0)
}

func (c *cursor) isConsuming() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.consuming
}

// holding reports whether the cursor wants its partition or still has a
// channel on it: what a group member announces.
func (c *cursor) holding() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.detached && (c.want || c.consuming)
}

// awaitWant blocks until the cursor should consume; false once detached.
func (c *cursor) awaitWant() bool {
	for {
		c.mu.Lock()
		det, want := c.detached, c.want
		c.mu.Unlock()
		if det {
			return false
		}
		if want {
			return true
		}
		select {
		case <-c.wake:
		case <-c.stopCh:
			return false
		case <-c.p.b.c.closing:
			return false
		}
	}
}

func (c *cursor) wanted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.want && !c.detached
}

// run is the cursor's goroutine: consume while wanted, across
// reconnections, until Detach or the client closes.
func (c *cursor) run() {
	defer close(c.done)
	defer c.p.b.c.unassign(c.slot)
	defer c.cleanup()
	attempt := 0
	for c.awaitWant() {
		gen, ready := c.slot.current()
		if gen == nil {
			select {
			case <-ready:
			case <-c.wake:
				c.signal(c.wake) // awaitWant reads it again
			case <-c.stopCh:
				return
			case <-c.p.b.c.closing:
				return
			}
			continue
		}
		ch, deliveries, err := c.open(gen)
		if err != nil {
			attempt++
			c.p.b.logWarn("amqp: broker consume failed", "queue", c.queue, "attempt", attempt, "error", err)
			if isNotFound(err) {
				ctx, cancel := context.WithTimeout(context.Background(), c.p.b.cfg.PublishTimeout)
				_ = c.p.b.c.redeclare(ctx)
				cancel()
			}
			t := time.NewTimer(c.p.b.c.cfg.Reconnect.Jittered(attempt))
			select {
			case <-t.C:
			case <-gen.lost:
				t.Stop()
			case <-c.stopCh:
				t.Stop()
				return
			}
			continue
		}
		attempt = 0
		c.consume(ch, deliveries)
	}
}

// cleanup deletes a detached plain subscription's queue.
func (c *cursor) cleanup() {
	if c.member != nil {
		return
	}
	c.mu.Lock()
	det := c.detached
	c.mu.Unlock()
	if !det {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.p.b.c.Delete(ctx, []string{c.queue}, nil); err != nil {
		c.p.b.logWarn("amqp: deleting a subscription queue failed (it expires)", "queue", c.queue, "error", err)
	}
}

func (c *cursor) open(gen *connGen) (*amqp091.Channel, <-chan amqp091.Delivery, error) {
	ch, err := gen.conn.Channel()
	if err != nil {
		return nil, nil, err
	}
	if err := ch.Qos(c.prefetch, 0, false); err != nil {
		_ = ch.Close()
		return nil, nil, err
	}
	tag := "nova-" + c.p.b.id + "-" + c.queue
	deliveries, err := ch.Consume(c.queue, tag, false, false, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return nil, nil, err
	}
	c.setConsuming(true)
	return ch, deliveries, nil
}

func (c *cursor) setConsuming(v bool) {
	c.mu.Lock()
	c.consuming = v
	c.mu.Unlock()
	if c.member != nil {
		c.member.changed()
	}
	if !v {
		c.p.checkDrained()
	}
}

// consume takes deliveries until the channel is lost, the cursor is no
// longer wanted (then it hands the partition back: see release) or it is
// detached.
func (c *cursor) consume(ch *amqp091.Channel, deliveries <-chan amqp091.Delivery) {
	defer c.setConsuming(false)
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				_ = ch.Close()
				c.lost(ch)
				return
			}
			c.receive(ch, &d)
		case <-c.wake:
			if c.wanted() {
				continue
			}
			c.release(ch, deliveries)
			return
		case <-c.stopCh:
			c.flushAcks(ch)
			_ = ch.Close()
			return
		case <-c.p.b.c.closing:
			_ = ch.Close()
			return
		}
	}
}

// release hands the partition back without ever letting two members run
// it at once. It stops serving what it received and has not handed to the
// bus, waits (at most ReleaseWait) until the bus settled what it has, and
// only then closes the channel: RabbitMQ puts the unacknowledged messages
// back, ahead of the later ones, and only now makes the next consumer of
// the single-active-consumer queue active. A basic.cancel would activate
// that consumer at once, while this one still runs what it holds.
func (c *cursor) release(ch *amqp091.Channel, deliveries <-chan amqp091.Delivery) {
	c.mu.Lock()
	c.releasing = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.releasing = false
		c.mu.Unlock()
	}()
	t := time.NewTimer(c.p.b.cfg.ReleaseWait)
	defer t.Stop()
	for {
		c.mu.Lock()
		n := 0
		for _, e := range c.inflight {
			if e.ch == ch {
				n++
			}
		}
		c.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case d, ok := <-deliveries:
			if ok {
				c.receive(ch, &d)
			} else {
				deliveries = nil // the channel is gone: RabbitMQ has them back
			}
		case <-c.settled:
		case <-t.C:
			c.p.b.logWarn("amqp: handing a partition over with unsettled events", "queue", c.queue, "count", n)
			n = 0
		case <-c.stopCh:
			n = 0
		case <-c.p.b.c.closing:
			n = 0
		}
		if n == 0 {
			break
		}
	}
	c.flushAcks(ch)
	_ = ch.Close()
	c.lost(ch)
}

// lost forgets the messages of ch that the bus has not taken: the broker
// delivers them again. Those the bus holds are settled as usual (their
// acknowledgement fails harmlessly).
func (c *cursor) lost(ch *amqp091.Channel) {
	c.mu.Lock()
	kept := c.buf[:0]
	for _, e := range c.buf {
		if e.ch != ch {
			kept = append(kept, e)
		}
	}
	clear(c.buf[len(kept):])
	c.buf = kept
	delete(c.acks, ch)
	c.mu.Unlock()
	c.signal(c.settled)
}

// receive decodes d and queues it for Next. A message that does not decode
// is handed to the bus with a nil event: the bus acknowledges it and counts
// it as malformed.
func (c *cursor) receive(ch *amqp091.Channel, d *amqp091.Delivery) {
	e := &entry{ch: ch, tag: d.DeliveryTag}
	// Decoding only reads the delivery: no copy of its headers.
	ev, err := c.p.b.cfg.Events.Decode(&Delivery{Queue: c.queue, Body: d.Body, ContentType: d.ContentType,
		ContentEncoding: d.ContentEncoding, Headers: d.Headers, MessageID: d.MessageId, Type: d.Type, Timestamp: d.Timestamp})
	if err == nil {
		e.msg.Event = ev
	}
	e.msg.Priority = workerpool.PriorityNormal
	if v, ok := toInt64(d.Headers[headerPriority]); ok {
		e.msg.Priority = workerpool.Priority(v)
	}
	if v, ok := d.Headers[headerKey].(string); ok {
		e.msg.Key = v
	}
	if v, ok := toInt64(d.Headers[headerAccepted]); ok && v > 0 {
		e.msg.Accepted = time.Unix(0, v)
	}
	origin, _ := d.Headers[headerOrigin].(string)
	a, hasAppend := toInt64(d.Headers[headerAppend])
	c.mu.Lock()
	if c.detached {
		c.mu.Unlock()
		return
	}
	if origin == c.p.origin && hasAppend {
		if _, ok := c.owed[uint64(a)]; ok {
			e.append, e.owed = uint64(a), true
		}
	}
	st := c.acks[ch]
	if st == nil {
		st = &chanAcks{}
		c.acks[ch] = st
	}
	st.delivered = max(st.delivered, d.DeliveryTag)
	e.msg.Seq = c.seq
	c.seq++
	c.buf = append(c.buf, e)
	m := e.msg
	c.mu.Unlock()
	c.notify(m)
}
