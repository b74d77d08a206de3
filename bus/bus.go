package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/internal/delay"
	"github.com/novaevents/nova/internal/drain"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// Bus routes published events through topics to their subscribers. It is
// safe for concurrent use. See the package doc for the model and for the
// goroutines it starts; Shutdown stops them.
//
// Make it with New: the zero Bus is not usable, and its methods say so
// (ErrNotInitialized; Topics and Listeners are nil, Stats is zero) rather
// than panic.
type Bus struct {
	cfg      Config
	name     string
	pool     *workerpool.Pool
	ownsPool bool
	broker   Broker
	metrics  shared.Metrics // nil when Config.Metrics is nil
	// checkMessages makes the lanes validate what the broker hands them.
	// Off for the in-memory broker, which holds only what Publish accepted.
	checkMessages bool

	topics atomic.Pointer[map[string]*topic] // copied on change, under mu
	closed atomic.Bool                       // Shutdown has begun

	mu      sync.Mutex
	specs   []*spec // every live Subscribe call
	closing bool
	store   IdempotencyStore // Config.IdempotencyStore, or the default, made on first use
	retired retiredStats     // counters of removed consumers and deleted topics

	drops         [numDropReasons]atomic.Uint64
	latePublished atomic.Uint64 // accepted by a topic being deleted, after its count was taken

	delay   *delay.Queue
	rescue  *drain.Rescuer
	lm      *listener.Manager // Config.Listeners, or the bus's own
	ownsLM  bool
	runCtx  context.Context // handlers' context; cancelled when Shutdown ends
	cancel  context.CancelFunc
	done    chan struct{} // closed when Shutdown has finished
	shutErr error

	// testDrainIdle, if set (by tests only), is called by a drainer that
	// found nothing to take, just before it gives its slot back.
	testDrainIdle func()
}

// New returns a running bus. Nonsense in cfg is not an error: missing parts
// get the defaults each field documents. New starts two goroutines (the
// retry timer and the pool-overflow rescuer) and, without
// Config.WorkerPool, a worker pool; without Config.Listeners it makes a
// listener manager of its own (whose dead-letter handlers run on its
// goroutines). Shutdown stops them all.
func New(cfg Config) *Bus {
	b := &Bus{cfg: cfg, name: cfg.Name, pool: cfg.WorkerPool, broker: cfg.Broker, metrics: cfg.Metrics}
	if b.name == "" {
		b.name = DefaultName
	}
	if b.pool == nil {
		b.pool = workerpool.New(workerpool.DefaultWorkers(), 0)
		b.ownsPool = true
	}
	if shared.IsNil(b.broker) {
		b.broker = NewMemoryBroker()
	}
	_, trusted := b.broker.(*MemoryBroker)
	b.checkMessages = !trusted
	if shared.IsNil(b.metrics) {
		b.metrics = nil
	}
	empty := map[string]*topic{}
	b.topics.Store(&empty)
	b.runCtx, b.cancel = context.WithCancel(context.Background())
	b.done = make(chan struct{})
	b.delay = delay.New()
	b.rescue = drain.NewRescuer(b.pool)
	b.lm = cfg.Listeners
	if b.lm == nil {
		b.lm = listener.NewManager(listener.ManagerConfig{Name: b.name, Logger: cfg.Logger})
		b.ownsLM = true
	}
	return b
}

// topic is one created topic and its consumers.
type topic struct {
	b     *Bus
	name  string
	cfg   TopicConfig // normalised
	parts []partRef
	store IdempotencyStore // for ExactlyOnce

	consumers map[string]*consumer // under b.mu, keyed by consumerKey
	retired   counters             // of consumers removed from this topic
	deleted   atomic.Bool
}

// partRef is one partition and its publish counter, padded so that
// publishers on different partitions do not share a cache line.
type partRef struct {
	p         Partition
	published atomic.Uint64
	_         [40]byte
}

func (b *Bus) lookup(name string) *topic {
	m := b.topics.Load()
	if m == nil { // the zero Bus: see ready
		return nil
	}
	return (*m)[name]
}

// ready returns ErrNotInitialized for a Bus that New did not make: the
// zero Bus has no topic map, no pool and no listener manager.
func (b *Bus) ready() error {
	if b.topics.Load() == nil {
		return ErrNotInitialized
	}
	return nil
}

// Topics returns the names of the existing topics, sorted.
func (b *Bus) Topics() []string {
	m := b.topics.Load()
	if m == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(*m))
}

// CreateTopic creates a topic. Zero fields of cfg get the documented
// defaults (see TopicConfig); a setting that cannot be made sense of is a
// *ConfigError. Subscriptions made before (by name, with AutoCreateTopics,
// or by a matching pattern) are attached to the new topic. It returns
// ErrTopicExists for a name in use, ErrInvalidTopic for an empty name or one
// with a wildcard, ErrClosed after Shutdown.
func (b *Bus) CreateTopic(name string, cfg TopicConfig) error {
	_, err := b.createTopic(name, cfg, false)
	return err
}

func (b *Bus) createTopic(name string, cfg TopicConfig, auto bool) (*topic, error) {
	if err := b.ready(); err != nil {
		return nil, err
	}
	if err := validTopicName(name); err != nil {
		return nil, err
	}
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return nil, ErrClosed
	}
	if t := b.lookup(name); t != nil {
		if auto {
			return t, nil // another publisher created it first
		}
		return nil, &TopicError{Topic: name, Err: ErrTopicExists}
	}
	t := &topic{b: b, name: name, cfg: cfg, parts: make([]partRef, cfg.Partitions), consumers: map[string]*consumer{}}
	for i := range t.parts {
		p, err := b.broker.OpenPartition(name, i, cfg.BufferSize)
		if err != nil {
			for j := range i {
				t.parts[j].p.Close()
			}
			return nil, fmt.Errorf("bus: opening partition %d of %q: %w", i, name, err)
		}
		t.parts[i].p = p
	}
	if cfg.DeliveryMode == ExactlyOnce {
		t.store = cfg.IdempotencyStore
		if shared.IsNil(t.store) {
			t.store = b.defaultStoreLocked()
		}
	}
	for _, sp := range b.specs {
		if sp.matches(name) {
			if err := b.attachLocked(t, sp); err != nil {
				b.dropTopicLocked(t, DropTopicDeleted)
				return nil, err
			}
		}
	}
	b.storeTopicLocked(name, t)
	return t, nil
}

func (b *Bus) defaultStoreLocked() IdempotencyStore {
	if b.store == nil {
		b.store = b.cfg.IdempotencyStore
		if shared.IsNil(b.store) {
			b.store = NewMemoryIdempotencyStore(DefaultIdempotencyWindow, DefaultIdempotencyTTL)
		}
	}
	return b.store
}

func (b *Bus) storeTopicLocked(name string, t *topic) {
	m := maps.Clone(*b.topics.Load())
	if t == nil {
		delete(m, name)
	} else {
		m[name] = t
	}
	b.topics.Store(&m)
}

// DeleteTopic removes a topic. Events it still held are dropped and counted
// as DropTopicDeleted; handlers already running finish. Subscriptions stay:
// they attach again if a topic of that name is created later. It returns
// ErrTopicNotFound for an unknown name.
func (b *Bus) DeleteTopic(name string) error {
	if err := b.ready(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.lookup(name)
	if t == nil {
		return &TopicError{Topic: name, Err: ErrTopicNotFound}
	}
	b.storeTopicLocked(name, nil)
	b.dropTopicLocked(t, DropTopicDeleted)
	return nil
}

// dropTopicLocked detaches every consumer of t and closes its partitions.
func (b *Bus) dropTopicLocked(t *topic, reason DropReason) {
	t.deleted.Store(true)
	for key, c := range t.consumers {
		b.removeConsumerLocked(t, key, c, reason)
	}
	for i := range t.parts {
		t.parts[i].p.Close()
		// Mark the counter: a Publish that got in before Close and counts
		// itself after this sees the mark and counts in latePublished.
		b.retired.published += t.parts[i].published.Swap(deletedMark)
	}
}

// deletedMark is what a deleted topic's publish counters are set to; no
// real count comes near it.
const deletedMark = 1 << 63

func validTopicName(name string) error {
	if name == "" {
		return &TopicError{Topic: name, Err: ErrInvalidTopic}
	}
	if shared.IsPattern(name) || strings.Contains(name, "..") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return &TopicError{Topic: name, Err: ErrInvalidTopic}
	}
	return nil
}

// Publish hands e to topic. It returns once the event is accepted (stored in
// its partition), not when it is handled; from then on the topic's
// DeliveryMode holds for it. ctx bounds only the wait for room in a full
// partition (workerpool.Block); handlers do not see it. Metadata, not ctx,
// carries values such as trace IDs to the handlers.
//
// Errors: a *shared.ValidationError (ErrInvalidEvent) for a nil event or an
// empty ID or type; ErrTopicNotFound for an unknown topic without
// AutoCreateTopics; ErrBufferFull or ctx.Err() when the partition stays
// full; ErrClosed once Shutdown has begun. Publish never panics, also not
// when it races Shutdown.
func (b *Bus) Publish(ctx context.Context, topicName string, e shared.Event) error {
	err := b.publish(ctx, topicName, e)
	if b.metrics != nil {
		typ := ""
		if err == nil || !errors.Is(err, ErrInvalidEvent) {
			typ = e.Type()
		}
		b.metrics.EventEmitted(b.name, typ, err)
	}
	return err
}

func (b *Bus) publish(ctx context.Context, topicName string, e shared.Event) error {
	if err := shared.Validate(e); err != nil {
		return err
	}
	if b.closed.Load() {
		return ErrClosed
	}
	t := b.lookup(topicName)
	if t == nil {
		if err := b.ready(); err != nil {
			return err
		}
		if !b.cfg.AutoCreateTopics {
			return &TopicError{Topic: topicName, Err: ErrTopicNotFound}
		}
		var err error
		if t, err = b.createTopic(topicName, b.cfg.TopicDefaults, true); err != nil {
			return err
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return t.publish(ctx, e)
}

func (t *topic) publish(ctx context.Context, e shared.Event) error {
	pr, m, err := t.place(e)
	if err != nil {
		return err
	}
	n, err := pr.p.Append(ctx, m, t.cfg.Overflow == workerpool.Block)
	return t.appended(pr, n, err)
}

// place builds e's message and picks its partition.
func (t *topic) place(e shared.Event) (*partRef, Message, error) {
	m := Message{Event: e, Priority: workerpool.PriorityNormal}
	if t.cfg.OrderingKey != nil || t.cfg.Priority != nil || t.b.cfg.Priority != nil {
		if err := t.route(e, &m); err != nil {
			return nil, m, err
		}
	}
	var h uint32
	if m.Key != "" {
		h = fnv1a(m.Key)
	} else {
		h = fnv1a(e.ID())
	}
	if t.cfg.Retention > 0 {
		m.Accepted = time.Now()
	}
	return &t.parts[h%uint32(len(t.parts))], m, nil
}

// appended counts the outcome of an Append to pr: n consumers, or err.
func (t *topic) appended(pr *partRef, n int, err error) error {
	if err != nil {
		switch {
		case errors.Is(err, ErrBufferFull):
			t.b.drop(DropBufferFull, 1)
		case errors.Is(err, ErrClosed):
			if t.deleted.Load() && !t.b.closed.Load() {
				return &TopicError{Topic: t.name, Err: ErrTopicNotFound}
			}
		default:
			t.b.drop(DropPublishCanceled, 1)
		}
		return err
	}
	if pr.published.Add(1) > deletedMark {
		// DeleteTopic has already moved this partition's count into the
		// bus's totals: count this event there too.
		t.b.latePublished.Add(1)
	}
	if n == 0 {
		// DeleteTopic detaches the consumers before it closes the
		// partitions: an event that lands in between found no consumer
		// because its topic was being deleted (deleted is set before the
		// first detach), not because nobody subscribed.
		if t.deleted.Load() {
			t.b.drop(DropTopicDeleted, 1)
		} else {
			t.b.drop(DropNoSubscribers, 1)
		}
	}
	return nil
}

// route fills m's ordering key and priority from the user's functions,
// turning a panic in them into an error.
func (t *topic) route(e shared.Event, m *Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bus: routing %q on topic %q: %w", e.ID(), t.name, shared.NewPanicError(r))
		}
	}()
	if t.cfg.OrderingKey != nil {
		m.Key = t.cfg.OrderingKey(e)
	}
	prio := t.cfg.Priority
	if prio == nil {
		prio = t.b.cfg.Priority
	}
	if prio != nil {
		if p := prio(e); p.Valid() {
			m.Priority = p
		}
	}
	return nil
}

// fnv1a is the 32-bit FNV-1a hash of s; it does not allocate.
func fnv1a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// PartitionFor returns the partition an event with ordering key key goes to
// in a topic of n partitions: FNV-1a of the key modulo n. Events without a
// key are placed by the same hash of their ID.
func PartitionFor(key string, n int) int {
	if n <= 0 {
		return 0
	}
	return int(fnv1a(key) % uint32(n))
}

func (b *Bus) drop(reason DropReason, n int) {
	if n <= 0 {
		return
	}
	b.drops[reason].Add(uint64(n))
	if b.metrics != nil {
		for range n {
			b.metrics.EventDropped(b.name, reason.String())
		}
	}
}
