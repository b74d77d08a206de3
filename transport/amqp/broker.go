package amqp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/bus"
)

// Defaults of BrokerConfig.
const (
	DefaultBrokerPrefix       = "nova.bus"
	DefaultBrokerMaxInFlight  = 256
	DefaultBrokerPrefetch     = 256
	DefaultGroupHeartbeat     = 500 * time.Millisecond
	DefaultGroupPeerTimeout   = 3 * time.Second
	DefaultGroupReleaseWait   = 30 * time.Second
	DefaultSubscriptionExpiry = time.Minute
)

// BrokerConfig configures a Broker. The zero value works: quorum queues,
// JSON payloads, the defaults below.
type BrokerConfig struct {
	// Prefix starts the name of every exchange and queue the broker
	// declares. Default "nova.bus".
	Prefix string
	// ClassicQueues makes consumer groups use classic queues instead of
	// quorum queues (the default, replicated and the recommended choice for
	// durability). Plain subscriptions always use classic queues: they
	// belong to one process.
	ClassicQueues bool
	// Events encodes events as CloudEvents (binary content mode). Set
	// Events.Registry to the codec registry that names your payload types,
	// so that a subscriber in another process gets the Go type back.
	Events EventEncoding
	// MaxInFlight is how many published events may wait for the broker's
	// confirm at once (the publish pipeline's window). Default 256.
	MaxInFlight int
	// Prefetch is how many unacknowledged messages the broker hands each
	// consumer of a partition ahead of time, capped by the topic's
	// BufferSize. Default 256.
	Prefetch int
	// PublishTimeout bounds one publish from Append to the confirm,
	// reconnections included. Default 30s.
	PublishTimeout time.Duration
	// Heartbeat is how often a consumer group member announces itself and
	// the partitions it holds. Default 500ms.
	Heartbeat time.Duration
	// PeerTimeout is how long a member may stay silent before the others
	// count it gone and take over its partitions. Default 3s; at least
	// twice Heartbeat.
	PeerTimeout time.Duration
	// ReleaseWait bounds how long a member handing a partition over waits
	// for the events it already received to be settled; after it, they go
	// back to the broker unsettled (and are delivered again). Default 30s.
	ReleaseWait time.Duration
	// SubscriptionExpiry is how long the broker keeps a plain
	// subscription's queue once its process is gone (x-expires). Default 1m.
	SubscriptionExpiry time.Duration
	// Logger receives warnings. Default: nothing is logged.
	Logger *slog.Logger
}

func (cfg BrokerConfig) withDefaults() (BrokerConfig, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultBrokerPrefix
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultBrokerMaxInFlight
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = DefaultBrokerPrefetch
	}
	if cfg.PublishTimeout == 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultGroupHeartbeat
	}
	if cfg.PeerTimeout == 0 {
		cfg.PeerTimeout = max(DefaultGroupPeerTimeout, 2*cfg.Heartbeat)
	}
	if cfg.ReleaseWait == 0 {
		cfg.ReleaseWait = DefaultGroupReleaseWait
	}
	if cfg.SubscriptionExpiry == 0 {
		cfg.SubscriptionExpiry = DefaultSubscriptionExpiry
	}
	cfg.Events = cfg.Events.withDefaults()
	switch {
	case cfg.MaxInFlight < 0 || cfg.MaxInFlight > maxInFlight:
		return cfg, configErrorf("BrokerConfig.MaxInFlight", "%d (1 to %d)", cfg.MaxInFlight, maxInFlight)
	case cfg.Prefetch < 0 || cfg.Prefetch > maxHandlers:
		return cfg, configErrorf("BrokerConfig.Prefetch", "%d (1 to %d)", cfg.Prefetch, maxHandlers)
	case cfg.PublishTimeout < 0, cfg.Heartbeat < 0, cfg.ReleaseWait < 0, cfg.SubscriptionExpiry < time.Second:
		return cfg, configErrorf("BrokerConfig", "negative duration or SubscriptionExpiry under 1s")
	case cfg.PeerTimeout < 2*cfg.Heartbeat:
		return cfg, configErrorf("BrokerConfig.PeerTimeout", "%v under twice Heartbeat %v", cfg.PeerTimeout, cfg.Heartbeat)
	case strings.ContainsAny(cfg.Prefix, " \t\n"):
		return cfg, configErrorf("BrokerConfig.Prefix", "%q has white space", cfg.Prefix)
	}
	return cfg, nil
}

// ErrBrokerClosed is ErrClosed: a Broker's methods return it after Close.
//
// Deprecated: use ErrClosed, the name every Nova package gives its closed
// error.
var ErrBrokerClosed = ErrClosed

// Broker is a bus.Broker on RabbitMQ: pass it as bus.Config.Broker and the
// bus's topics, partitions, ordering keys, consumer groups, delivery modes,
// retries and dead letters work across processes, with nothing else in the
// application changed.
//
//	client, _ := amqp.Dial(ctx, amqp.Config{URL: url})
//	broker, _ := client.NewBroker(amqp.BrokerConfig{Events: amqp.EventEncoding{Registry: reg}})
//	b := bus.New(bus.Config{Broker: broker})
//	... b.CreateTopic, b.Publish, b.Subscribe, b.SubscribeGroup ...
//	b.Shutdown(ctx); broker.Close(ctx); client.Close(ctx)
//
// # Mapping
//
// Topic T is a direct exchange "<Prefix>.T"; partition i of T is the
// routing key "i" (the bus picks the partition: FNV-1a of the ordering key
// modulo Partitions, so every process must create T with the same
// Partitions). An event travels as a CloudEvents message in binary content
// mode (EventEncoding: attributes in cloudEvents:* headers, the payload
// encoded by the codec and named by the registry, so a subscriber in
// another process gets the Go type back), persistent, plus the headers
// x-nova-key (ordering key), x-nova-priority (when not normal),
// x-nova-accepted (with Retention) and, when this process has plain
// subscribers of the topic, x-nova-origin and x-nova-append.
//
// A plain subscription (Subscribe, SubscribePattern) gets one durable
// classic queue per partition, "<Prefix>.T.sub.<ID>.<subscription>.i",
// named after this broker's ID (unique per process, see ID), so two
// processes never share one. It receives what is published after it
// subscribed. Unsubscribe and Close delete it; a process that dies leaves
// it to expire after SubscriptionExpiry.
//
// A consumer group G gets one durable queue per partition,
// "<Prefix>.T.group.G.i", shared by every process that joins G: quorum
// queues by default (replicated; ClassicQueues for classic ones), with
// x-single-active-consumer. The queues outlive the members: events
// published while no member runs wait there for the next one. Only
// DeleteGroup removes them.
//
// # Consumer groups across processes
//
// Each process in a group runs one member. Members announce themselves
// every Heartbeat on the fanout exchange "<Prefix>.T.group.G.presence"
// (each reads its own auto-delete queue), with the partitions they hold.
// A member counts the members heard within PeerTimeout and, with their IDs
// sorted, owns partition i when it is at position i mod n: work is spread
// evenly and moves when a member joins or leaves. A member starts
// consuming a partition it owns only once no live member announces holding
// it, and hands back a partition it no longer owns after the bus settled
// what it had taken; then it closes the partition's channel, which puts the
// messages it had received and not taken back in the queue, ahead of later
// ones. A member that leaves (Unsubscribe, Shutdown) says so and is
// replaced at once; one that crashes is replaced after PeerTimeout.
// Because each queue is single-active-consumer, two members that disagree
// for a moment (one joined, one's heartbeats were late) never both receive
// from one partition, so ordering keys hold across processes: a partition
// is handled by one member at a time, and what a crashed member left
// unacknowledged comes back first.
//
// Measured on a loaded 2-core machine (TestBrokerMultiProcess,
// TestBrokerGroupRebalancesWhenMembersComeAndGo): with Heartbeat 250ms and
// PeerTimeout 2s, the partitions of a member killed with SIGKILL were
// handled again by the others 2.2s after the kill; with Heartbeat 100ms, a
// joining member had its share after 170ms and a leaving member's
// partitions were taken over in 11ms. With the defaults (500ms, 3s) expect
// about 3.5s for a crash and a second for a join.
//
// # Delivery
//
// Publish returns once RabbitMQ confirmed the event (persisted in every
// queue it was routed to). bus.PublishAsync does the same without waiting:
// one goroutine keeps up to MaxInFlight publishes in flight on one
// confirm-mode channel, which also keeps the publish order of each
// partition. An event no queue received (nobody subscribed anywhere) is
// counted by the bus as DropNoSubscribers.
//
// A consumer's messages stay unacknowledged on RabbitMQ until the bus
// settles them (handled, dead-lettered or suppressed as a duplicate),
// retries included: while an attempt waits for its backoff the message is
// still the broker's, so a crash hands it to another member. Settled
// messages are acknowledged in batches of up to 32, and at once when
// nothing else is waiting.
//
// # What survives what
//
//	failure                          | AtLeastOnce               | ExactlyOnce + postgres.IdempotencyStore, effects via Transactional
//	---------------------------------+---------------------------+-------------------------------------------------------------------
//	member killed (kill -9)          | its unacknowledged events | the same events go to another member; effects written through
//	                                 | go to another member;     | TxFrom commit once per event (a cut call rolls back, a finished
//	                                 | some are handled twice    | one is skipped): one effect row per event
//	connection lost, broker restart  | confirmed events kept and | the same, and redelivered copies are suppressed
//	                                 | delivered; a few twice    |
//	publisher killed before confirm  | the event may be lost:    | republishing with the same ID is harmless
//	                                 | publish it again          |
//	publisher killed after confirm   | stored; delivered         | stored; delivered; effects once
//	plain subscriber's process ends  | its queues and their events go with it (after SubscriptionExpiry)
//
// In detail:
//
//   - A member's crash (kill -9): RabbitMQ puts back what it had not
//     acknowledged; another member handles it, in order, after
//     PeerTimeout. What the crashed member handled and had not acknowledged
//     yet is handled again: use ExactlyOnce with an idempotency store shared
//     by the processes to suppress those duplicates, and
//     postgres.IdempotencyStore.Transactional to make a handler's database
//     effects happen once even when the crash cuts a handler call in the
//     middle (TestBrokerMultiProcess, TestBrokerMultiProcessExactlyOnce).
//   - A lost connection or a broker restart: the client reconnects, declares
//     the exchanges, queues and bindings again and consumption resumes;
//     publishes waiting for a confirm are sent again (they may be delivered
//     twice), within PublishTimeout. Group queues and plain subscription
//     queues are durable and messages persistent, so confirmed events
//     survive a broker restart (quorum queues also the loss of a node in a
//     cluster). Shown by TestBrokerReconnectsAndLosesNothing (every
//     connection closed) and TestFaultBusSurvivesBrokerRestart (the RabbitMQ
//     application stopped and started, with confirmed events still queued
//     and publishes accepted while it was down).
//   - A publisher's crash before Publish returned (before the confirm): the
//     event may or may not have been stored; the application does not know,
//     and must publish it again on restart (with the same ID, which
//     ExactlyOnce deduplicates). After Publish returned (or the receipt
//     settled without error), the event is stored and is delivered.
//   - A plain subscriber's process: its queues go with it (after
//     SubscriptionExpiry), with the events it had not handled, as a plain
//     subscription in memory does.
//
// # Memory
//
// A partition's BufferSize bounds what this process holds of it: events
// published and not yet confirmed, or not yet settled by the plain
// subscriptions of this process (in publish order: room comes back as the
// oldest is settled). Group backlogs wait in RabbitMQ, not in memory; each
// consumer takes at most Prefetch (capped at BufferSize) messages ahead.
//
// # Limits
//
//   - Every process must create a topic with the same Partitions (and the
//     same Prefix): the partition is chosen by the publisher and a
//     consumer group's queues are per partition.
//   - A member hands a partition over after the bus settled what it took,
//     for at most ReleaseWait: an event still waiting for a long retry
//     then goes back to RabbitMQ and may be handled by the next member
//     while the old one retries it (a duplicate, possibly out of order).
//   - Consumers and the publisher share the client's connections. Under a
//     RabbitMQ resource alarm a connection that publishes is blocked, and
//     so are the acknowledgements sent on it: give the client enough
//     MaxConnections, or use separate clients, if alarms are expected.
//   - A topic's exchange deleted while the connection stays up makes the
//     publishes to it fail (ErrExchangeNotFound) until the next
//     reconnection declares it again; queues deleted under a consumer are
//     declared again at once.
//   - A plain subscription's queue that RabbitMQ deleted (it expired during
//     an outage longer than SubscriptionExpiry) is declared again, empty:
//     what was published meanwhile is lost to it.
//
// # Goroutines and Close
//
// A Broker is safe for concurrent use. It starts one goroutine that follows
// the confirms of PublishAsync, one per attached consumer and partition
// (its channel, across reconnections) and one per consumer group member of
// this process (heartbeats and partition assignment). Close stops them;
// call it after the bus's Shutdown and before the client's Close.
type Broker struct {
	c   *Client
	cfg BrokerConfig
	id  string // this broker's member ID: unique per process and broker
	pub *Publisher

	fmu        sync.Mutex       // guards sending on confirms against its close
	followDone bool             // confirms is closed
	confirms   chan confirmWait // followed by the confirmer goroutine
	confirmer  chan struct{}    // closed when it ends

	mu         sync.Mutex
	closed     bool
	partitions map[string]int // topic → partitions opened
	parts      []*partition
	members    map[string]*member // topic + "\x00" + group
}

// NewBroker returns a Broker that publishes and consumes through c. The
// client must outlive the broker: close the broker first.
func (c *Client) NewBroker(cfg BrokerConfig) (*Broker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pub, err := c.NewPublisher(PublisherConfig{
		Name:        "amqp.broker",
		WorkerCount: 1, // one channel: the broker keeps each partition's publish order
		MaxInFlight: cfg.MaxInFlight,
		// Room for every partition's waiting publishers; the partitions
		// bound what they hold themselves.
		QueueSize:      cfg.MaxInFlight * 4,
		PublishTimeout: cfg.PublishTimeout,
		Mandatory:      true,
		// An unroutable event (no queue bound) is reported, not retried;
		// a connection lost before the confirm resends without using
		// attempts.
		Retry:  RetryPolicy{MaxAttempts: 1},
		Events: cfg.Events,
		Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	b := &Broker{
		c:          c,
		cfg:        cfg,
		id:         hex.EncodeToString(raw[:]),
		pub:        pub,
		confirms:   make(chan confirmWait, cfg.MaxInFlight*4),
		confirmer:  make(chan struct{}),
		partitions: map[string]int{},
		members:    map[string]*member{},
	}
	go b.followConfirms()
	return b, nil
}

// confirmWait is a publish whose outcome an AppendAsync caller waits for.
type confirmWait struct {
	r    *Receipt
	done func(error)
}

// follow hands r to the confirmer goroutine, which calls done with its
// outcome. The publisher resolves receipts in publish order, so one
// goroutine waiting for them in turn is never held up for long.
func (b *Broker) follow(r *Receipt, done func(error)) {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	if b.followDone {
		// Close has closed the publisher: every receipt is resolved.
		done(r.Wait(context.Background()))
		return
	}
	b.confirms <- confirmWait{r, done}
}

func (b *Broker) followConfirms() {
	defer close(b.confirmer)
	for {
		select {
		case w, ok := <-b.confirms:
			if !ok {
				return
			}
			<-w.r.Done()
			w.done(w.r.Err())
		case <-b.c.closing:
			// The client closed under the broker; it closed the publisher
			// first, so every receipt is resolved.
			b.stopFollowing()
			for w := range b.confirms {
				w.done(w.r.Wait(context.Background()))
			}
			return
		}
	}
}

func (b *Broker) stopFollowing() {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	if !b.followDone {
		b.followDone = true
		close(b.confirms)
	}
}

// ID is this broker's member ID, unique per process: it names the queues of
// plain subscriptions and identifies this process in its consumer groups.
func (b *Broker) ID() string { return b.id }

// Exchange is the name of the exchange topic's events are published to.
func (b *Broker) Exchange(topic string) string { return b.cfg.Prefix + "." + topic }

// GroupQueue is the name of the queue of partition index of group on topic.
func (b *Broker) GroupQueue(topic, group string, index int) string {
	return b.groupPrefix(topic, group) + "." + strconv.Itoa(index)
}

func (b *Broker) groupPrefix(topic, group string) string {
	return b.cfg.Prefix + "." + topic + ".group." + group
}

func (b *Broker) presenceExchange(topic, group string) string {
	return b.groupPrefix(topic, group) + ".presence"
}

func (b *Broker) subQueue(topic, name string, index int) string {
	return b.cfg.Prefix + "." + topic + ".sub." + b.id + "." + strings.ReplaceAll(name, ":", "-") + "." + strconv.Itoa(index)
}

// OpenPartition declares topic's exchange and returns partition index. The
// events it publishes are routed to the partition's queues by index.
func (b *Broker) OpenPartition(topic string, index, capacity int) (bus.Partition, error) {
	if topic == "" || index < 0 {
		return nil, configErrorf("BrokerConfig", "topic %q, partition %d", topic, index)
	}
	if capacity <= 0 {
		capacity = bus.DefaultBufferSize
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	b.partitions[topic] = max(b.partitions[topic], index+1)
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.PublishTimeout)
	defer cancel()
	if err := b.c.Declare(ctx, Topology{Exchanges: []Exchange{{Name: b.Exchange(topic), Kind: "direct"}}}); err != nil {
		return nil, err
	}
	p := newPartition(b, topic, index, capacity)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	b.parts = append(b.parts, p)
	return p, nil
}

// Held returns the partitions of topic this process's member of group is
// consuming now, sorted; nil when it is not a member. A member takes its
// share a moment after joining (see the Broker doc): wait for it before
// relying on this process to handle the group's events.
func (b *Broker) Held(topic, group string) []int {
	b.mu.Lock()
	m := b.members[topic+"\x00"+group]
	b.mu.Unlock()
	if m == nil {
		return nil
	}
	var held []int
	for i, c := range m.snapshot() {
		if c.isConsuming() {
			held = append(held, i)
		}
	}
	slices.Sort(held)
	return held
}

// partitionCount is how many partitions of topic this broker opened.
func (b *Broker) partitionCount(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.partitions[topic]
}

// joinGroup returns this process's member of group on topic, started on
// first use.
func (b *Broker) joinGroup(topic, group string) (*member, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	key := topic + "\x00" + group
	if m := b.members[key]; m != nil && !m.isStopping() {
		return m, nil
	}
	m, err := newMember(b, topic, group)
	if err != nil {
		return nil, err
	}
	b.members[key] = m
	return m, nil
}

func (b *Broker) leftGroup(m *member) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := m.topic + "\x00" + m.group
	if b.members[key] == m {
		delete(b.members, key)
	}
}

// DeleteGroup deletes consumer group group of topic from the broker: its
// queues, with the events waiting in them, and its presence exchange. A
// group is durable otherwise: it outlives its members, and events published
// while none runs wait for the next one. Members still running in other
// processes lose their queues (their consumers are cancelled); stop them
// first.
func (b *Broker) DeleteGroup(ctx context.Context, topic, group string) error {
	if topic == "" || group == "" {
		return configErrorf("BrokerConfig", "empty topic or group")
	}
	var queues []string
	for i := 0; i < bus.MaxPartitions; i++ {
		q := b.GroupQueue(topic, group, i)
		err := b.c.withChannel(ctx, func(ch *amqp091.Channel) error {
			_, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
			return err
		})
		if isNotFound(err) {
			break
		}
		if err != nil {
			return err
		}
		queues = append(queues, q)
	}
	return b.c.Delete(ctx, queues, []string{b.presenceExchange(topic, group)})
}

// Close detaches every consumer this broker attached (what they had
// received and not settled goes back to RabbitMQ), leaves the consumer
// groups, deletes the queues of plain subscriptions and closes the
// publisher, waiting for pending confirms. Call it after bus.Shutdown. It
// returns ctx.Err() if time runs out; calling it again is harmless.
func (b *Broker) Close(ctx context.Context) error {
	ctx = orBackground(ctx)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	parts := b.parts
	b.parts = nil
	b.mu.Unlock()
	for _, p := range parts {
		p.Close()
		for _, c := range p.attached() {
			c.Detach()
		}
	}
	var errs []error
	for _, p := range parts {
		for _, c := range p.detachedCursors() {
			if err := c.wait(ctx); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	b.mu.Lock()
	members := make([]*member, 0, len(b.members))
	for _, m := range b.members {
		members = append(members, m)
	}
	b.mu.Unlock()
	for _, m := range members {
		m.stop()
		if err := waitClosed(ctx, m.done); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.pub.Close(ctx); err != nil && !errors.Is(err, ErrClosed) {
		errs = append(errs, err)
	}
	b.stopFollowing()
	if err := waitClosed(ctx, b.confirmer); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func waitClosed(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Broker) logWarn(msg string, args ...any) {
	if b.cfg.Logger != nil {
		b.cfg.Logger.Warn(msg, args...)
	}
}
