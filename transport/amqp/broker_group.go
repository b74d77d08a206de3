package amqp

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// member is this process's member of one consumer group on one topic. Its
// goroutine announces the member on the group's presence exchange every
// Heartbeat (with the partitions it holds), hears the other members, and
// assigns partitions: with the live members sorted by ID, partition i
// belongs to member i mod n. A member consumes a partition it is assigned
// only once no other live member announces holding it, and hands back a
// partition it is no longer assigned after settling what it received from
// it. Each partition's queue is single-active-consumer, so even members
// that disagree for a moment never both receive from one partition.
type member struct {
	b     *Broker
	topic string
	group string
	queue string // this member's presence queue

	mu       sync.Mutex
	cursors  map[int]*cursor
	stopping bool

	changedCh chan struct{} // cap 1
	stopCh    chan struct{}
	done      chan struct{}
}

// presence is a member's heartbeat.
type presence struct {
	ID      string `json:"id"`
	Held    []int  `json:"held,omitempty"`
	Leaving bool   `json:"leaving,omitempty"`
}

type peer struct {
	held []int
	seen time.Time
}

func newMember(b *Broker, topic, group string) (*member, error) {
	m := &member{
		b: b, topic: topic, group: group,
		queue:     b.presenceExchange(topic, group) + "." + b.id,
		cursors:   map[int]*cursor{},
		changedCh: make(chan struct{}, 1),
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.PublishTimeout)
	defer cancel()
	x := b.presenceExchange(topic, group)
	err := b.c.Declare(ctx, Topology{
		Exchanges: []Exchange{{Name: x, Kind: "fanout"}},
		Queues: []Queue{{Name: m.queue, Transient: true, AutoDelete: true,
			Args: Table{"x-expires": max(4*b.cfg.PeerTimeout, time.Second).Milliseconds()}}},
		Bindings: []Binding{{Queue: m.queue, Exchange: x}},
	})
	if err != nil {
		return nil, err
	}
	go m.run()
	return m, nil
}

func (m *member) isStopping() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopping
}

func (m *member) add(c *cursor) {
	m.mu.Lock()
	m.cursors[c.p.index] = c
	m.mu.Unlock()
	m.changed()
}

// remove forgets a detached cursor; the member leaves with its last one.
func (m *member) remove(c *cursor) {
	m.mu.Lock()
	if m.cursors[c.p.index] == c {
		delete(m.cursors, c.p.index)
	}
	last := len(m.cursors) == 0
	m.mu.Unlock()
	if last {
		m.stop()
	} else {
		m.changed()
	}
}

func (m *member) stop() {
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return
	}
	m.stopping = true
	m.mu.Unlock()
	m.b.leftGroup(m)
	close(m.stopCh)
}

func (m *member) changed() {
	select {
	case m.changedCh <- struct{}{}:
	default:
	}
}

func (m *member) snapshot() map[int]*cursor {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int]*cursor, len(m.cursors))
	for i, c := range m.cursors {
		out[i] = c
	}
	return out
}

// run is the member's goroutine.
func (m *member) run() {
	defer close(m.done)
	b := m.b
	slot := b.c.assign()
	defer b.c.unassign(slot)
	peers := map[string]peer{}
	var since time.Time // when this member started hearing the group
	attempt := 0
	for {
		gen, ready := slot.current()
		if gen == nil {
			select {
			case <-ready:
				continue
			case <-m.stopCh:
				m.leave(nil)
				return
			case <-b.c.closing:
				return
			}
		}
		ch, deliveries, err := m.open(gen)
		if err != nil {
			attempt++
			b.logWarn("amqp: group presence failed", "group", m.group, "attempt", attempt, "error", err)
			if isNotFound(err) {
				ctx, cancel := context.WithTimeout(context.Background(), b.cfg.PublishTimeout)
				_ = b.c.redeclare(ctx)
				cancel()
			}
			t := time.NewTimer(b.c.cfg.Reconnect.Jittered(attempt))
			select {
			case <-t.C:
			case <-gen.lost:
				t.Stop()
			case <-m.stopCh:
				t.Stop()
				m.leave(nil)
				return
			}
			continue
		}
		attempt = 0
		if since.IsZero() {
			since = time.Now()
		}
		if m.session(ch, deliveries, peers, since) {
			return
		}
	}
}

func (m *member) open(gen *connGen) (*amqp091.Channel, <-chan amqp091.Delivery, error) {
	ch, err := gen.conn.Channel()
	if err != nil {
		return nil, nil, err
	}
	deliveries, err := ch.Consume(m.queue, "", true, true, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return nil, nil, err
	}
	return ch, deliveries, nil
}

// session runs on one channel until it is lost (false) or the member stops
// (true).
func (m *member) session(ch *amqp091.Channel, deliveries <-chan amqp091.Delivery, peers map[string]peer, since time.Time) bool {
	b := m.b
	tick := time.NewTicker(b.cfg.Heartbeat)
	defer tick.Stop()
	m.announce(ch, false)
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				_ = ch.Close()
				return false
			}
			var p presence
			if json.Unmarshal(d.Body, &p) != nil || p.ID == "" || p.ID == b.id {
				continue
			}
			if p.Leaving {
				delete(peers, p.ID)
			} else {
				peers[p.ID] = peer{held: p.Held, seen: time.Now()}
			}
			m.assign(peers, since)
		case <-tick.C:
			m.assign(peers, since)
			m.announce(ch, false)
		case <-m.changedCh:
			m.assign(peers, since)
			m.announce(ch, false)
		case <-m.stopCh:
			m.leave(ch)
			return true
		case <-b.c.closing:
			_ = ch.Close()
			return true
		}
	}
}

// assign computes this member's share and tells its cursors.
func (m *member) assign(peers map[string]peer, since time.Time) {
	now := time.Now()
	live := []string{m.b.id}
	for id, p := range peers {
		if now.Sub(p.seen) > m.b.cfg.PeerTimeout {
			delete(peers, id)
			continue
		}
		live = append(live, id)
	}
	sort.Strings(live)
	// Listen for a round of heartbeats before taking anything, so as not
	// to take what a member not yet heard of holds.
	settled := now.Sub(since) >= m.b.cfg.Heartbeat*3/2
	for i, c := range m.snapshot() {
		if live[i%len(live)] != m.b.id {
			c.setWant(false)
			continue
		}
		if !settled {
			continue
		}
		heldElsewhere := false
		for _, p := range peers {
			if slices.Contains(p.held, i) {
				heldElsewhere = true
				break
			}
		}
		if !heldElsewhere {
			c.setWant(true)
		}
	}
}

func (m *member) announce(ch *amqp091.Channel, leaving bool) {
	p := presence{ID: m.b.id, Leaving: leaving}
	if !leaving {
		for i, c := range m.snapshot() {
			if c.holding() {
				p.Held = append(p.Held, i)
			}
		}
		slices.Sort(p.Held)
	}
	body, _ := json.Marshal(p)
	ctx, cancel := context.WithTimeout(context.Background(), m.b.cfg.Heartbeat)
	defer cancel()
	_ = ch.PublishWithContext(ctx, m.b.presenceExchange(m.topic, m.group), "", false, false,
		amqp091.Publishing{ContentType: "application/json", Body: body, Expiration: strconv.FormatInt(m.b.cfg.PeerTimeout.Milliseconds(), 10)})
}

// leave tells the group this member is gone, so the others take its
// partitions without waiting for PeerTimeout, and deletes its queue.
func (m *member) leave(ch *amqp091.Channel) {
	if ch != nil {
		m.announce(ch, true)
		_ = ch.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.b.c.Delete(ctx, []string{m.queue}, nil)
}
