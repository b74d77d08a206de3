package bus

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// Defaults applied to zero Config and TopicConfig fields, and
// the limits CreateTopic enforces.
const (
	// DefaultPartitions is TopicConfig.Partitions when it is 0.
	DefaultPartitions = 4
	// DefaultBufferSize is TopicConfig.BufferSize when it is 0: how many
	// events one partition holds that some subscriber has not settled yet.
	DefaultBufferSize = 1024
	// DefaultMaxConcurrency is TopicConfig.MaxConcurrency when it is 0: each
	// subscriber handles one event of a partition at a time.
	DefaultMaxConcurrency = 1
	// DefaultIdempotencyWindow and DefaultIdempotencyTTL bound the in-memory
	// IdempotencyStore the bus creates for ExactlyOnce topics: the event IDs
	// it remembers, and for how long.
	DefaultIdempotencyWindow = 100_000
	DefaultIdempotencyTTL    = 10 * time.Minute
	// DefaultName is Config.Name when it is empty: the component name given
	// to the metrics hook.
	DefaultName = "bus"

	// MaxPartitions and MaxBufferSize are the largest values CreateTopic
	// accepts; a partition's buffer is allocated when the topic is created.
	MaxPartitions = 4096
	MaxBufferSize = 1 << 22
	// MaxTopicSlots is the largest Partitions × BufferSize CreateTopic
	// accepts: the events one topic may hold, over all its partitions. With
	// the in-memory broker a slot takes 64 bytes (BufferSize rounded up to a
	// power of two), so one topic's buffers take at most 1 GiB, 2 GiB with
	// a BufferSize just past a power of two.
	MaxTopicSlots = 1 << 24

	// drainBatch is how many events one drainer task handles before it hands
	// its pool worker back, so that a busy topic cannot monopolise a pool it
	// shares with others.
	drainBatch = 256
)

// DeliveryMode is what a topic promises about each event it accepted.
type DeliveryMode int

const (
	// AtLeastOnce (the default) hands every accepted event to every
	// subscriber until one attempt succeeds, retrying failures (errors,
	// panics, timeouts) with the topic's RetryPolicy, and dead-letters the
	// events whose retries run out. An attempt succeeds when its handler
	// returns nil, even after its HandlerTimeout. A subscriber may see an
	// event more than once only if it failed before.
	AtLeastOnce DeliveryMode = iota
	// AtMostOnce makes one attempt per subscriber. A failure is counted and
	// dead-lettered, never retried.
	AtMostOnce
	// ExactlyOnce is AtLeastOnce plus deduplication by event ID per
	// subscriber (or consumer group) through the topic's IdempotencyStore:
	// an ID handled successfully is not handled again within the store's
	// window. See IdempotencyStore for what survives a crash.
	ExactlyOnce
)

// String returns "at-least-once", "at-most-once" or "exactly-once".
func (m DeliveryMode) String() string {
	switch m {
	case AtLeastOnce:
		return "at-least-once"
	case AtMostOnce:
		return "at-most-once"
	case ExactlyOnce:
		return "exactly-once"
	}
	return "DeliveryMode(" + strconv.Itoa(int(m)) + ")"
}

// Overflow is what Publish does when the event's partition is full. It is
// workerpool.Overflow, the one overflow vocabulary of Nova's packages. A
// topic takes workerpool.Block (the default: wait for room until the
// caller's ctx is done, then refuse the event with ctx's error, counted as
// DropPublishCanceled) and workerpool.RejectNew (refuse the event at once
// with ErrBufferFull, counted as DropBufferFull); CreateTopic refuses the
// others with a *ConfigError (bound a wait with the ctx given to Publish).
type Overflow = workerpool.Overflow

// The overflow policies' names before Nova had one vocabulary.
var (
	// Deprecated: use workerpool.Block.
	OverflowBlock = workerpool.Block
	// Deprecated: use workerpool.RejectNew.
	OverflowReject = workerpool.RejectNew
)

// Config configures a Bus. The zero value works: topics must be created
// before use, the bus runs handlers on a pool it owns, events live in memory.
type Config struct {
	// WorkerPool runs the handlers. Nil: the bus creates a pool of
	// workerpool.DefaultWorkers() workers and closes it in Shutdown. A pool
	// passed in is shared, not owned: close it after the bus's Shutdown.
	// The bus never parks a worker per partition: it submits short drainer
	// tasks when work appears (see the package doc).
	WorkerPool *workerpool.Pool
	// AutoCreateTopics makes Publish create an unknown topic with
	// TopicDefaults and Subscribe register for a topic that does not exist
	// yet. Default false: both return ErrTopicNotFound, so a misspelt name
	// is an error rather than a topic nobody reads.
	AutoCreateTopics bool
	// TopicDefaults is the TopicConfig of auto-created topics. Its own zero
	// fields get the usual defaults.
	TopicDefaults TopicConfig
	// Broker holds the partitions. Nil: an in-memory broker (NewMemoryBroker).
	Broker Broker
	// IdempotencyStore deduplicates ExactlyOnce topics that do not set their
	// own. Nil: an in-memory store of DefaultIdempotencyWindow IDs kept for
	// DefaultIdempotencyTTL, created on first use.
	IdempotencyStore IdempotencyStore
	// Priority, if set, picks the pool lane of the drainer task an event
	// wakes up, for topics that do not set their own. Nil: PriorityNormal.
	Priority func(shared.Event) workerpool.Priority
	// Listeners applies the policies registered with a listener manager to
	// the subscribers whose listener is registered there: its RetryPolicy
	// and circuit breaker decide redelivery instead of the topic's, its
	// Timeout and Concurrency apply to each attempt, and events given up on
	// go to its dead-letter store and handler instead of the topic's.
	// Redelivery itself stays the bus's (ordering keys hold back later
	// events while one waits), so AtMostOnce topics still try once. Every
	// attempt goes through the manager (listener.Route), and every dead
	// letter, topic policy or registration, lands in its store. Stop the
	// manager after the bus's Shutdown. Nil: a manager of the bus's own
	// (Bus.Listeners), stopped by Shutdown; every subscriber follows its
	// topic's policies.
	Listeners *listener.Manager
	// Metrics receives counts and timings. Nil reports nothing.
	Metrics shared.Metrics
	// Logger, if set, receives what the bus cannot return to anyone: a
	// dead-letter handler's panic, an idempotency store's error.
	Logger *slog.Logger
	// Name is the component name reported to Metrics. Default DefaultName.
	Name string
}

// TopicConfig configures one topic. Its zero value is a working topic:
// DefaultPartitions partitions of DefaultBufferSize events, AtLeastOnce with
// the listener package's default RetryPolicy (3 attempts, exponential
// backoff from 100ms with full jitter), one event at a time per partition
// and subscriber, Publish blocking while a partition is full.
type TopicConfig struct {
	// BufferSize is how many events each partition holds that are not yet
	// settled (handled, dead-lettered or dropped) by every subscriber. It is
	// also each subscriber's own backlog limit: a slow subscriber delays the
	// others only once it is BufferSize events behind. 0 or negative means
	// DefaultBufferSize; above MaxBufferSize is an error, and so is a
	// Partitions × BufferSize above MaxTopicSlots.
	BufferSize int
	// Partitions splits the topic into independent, concurrently processed
	// streams. 0 or negative means DefaultPartitions; above MaxPartitions is
	// an error, and so is a Partitions × BufferSize above MaxTopicSlots.
	Partitions int
	// MaxConcurrency is how many events of one partition each subscriber
	// (or consumer group) handles at once. They always have different
	// ordering keys: one key never runs twice at once. 0 or negative means
	// DefaultMaxConcurrency (1).
	MaxConcurrency int
	// DeliveryMode is AtLeastOnce unless set.
	DeliveryMode DeliveryMode
	// OrderingKey returns the event's ordering key. Events with the same key
	// go to the same partition (FNV-1a of the key, modulo Partitions) and
	// reach every subscriber in publish order, retries included. Nil, or a
	// key of "", means no order: the event's partition is chosen by a hash of
	// its ID and it may be handled before or after any other event.
	OrderingKey func(shared.Event) string
	// Overflow is the policy when a partition is full: workerpool.Block
	// (the default) or workerpool.RejectNew.
	Overflow Overflow
	// RetryPolicy governs AtLeastOnce and ExactlyOnce retries. Its zero value
	// is the listener package's default.
	RetryPolicy listener.RetryPolicy
	// DeadLetter receives the events given up on (retries exhausted, a
	// permanent error, an AtMostOnce failure, an expired event). They are
	// always counted in Stats.DeadLettered. With Enabled they are kept in
	// the listener manager's dead-letter store (Bus.Listeners: list,
	// inspect, redrive) and, with a Handler, handed to it once on a
	// goroutine the manager owns, behind a queue of DeadLetter.QueueSize
	// (default listener.DefaultDeadLetterQueueSize); when that queue is
	// full the call is skipped and counted in the manager's
	// Stats.DeadLetterHandlerOverflow (the event stays in the store).
	// Without Enabled they are counted as dropped ("dead_letter_disabled").
	// A subscriber whose listener is registered with Config.Listeners
	// follows its registration instead.
	DeadLetter listener.DeadLetterConfig
	// HandlerTimeout, if positive, bounds each attempt through its context;
	// an attempt that returns an error after its deadline fails with a
	// *shared.TimeoutError. An attempt that returns nil has succeeded, in
	// every delivery mode, even if it returned after the deadline: it is
	// not run again. A handler that ignores its context keeps its pool
	// worker until it returns. For a listener registered with
	// Config.Listeners the overrun is that attempt's failure for the
	// manager too: its circuit breaker and health count it. 0 means no
	// limit.
	HandlerTimeout time.Duration
	// Retention, if positive, is how long an accepted event may wait for its
	// first attempt. An event that waited longer is not handled: it is
	// dead-lettered with ErrExpired and counted in Stats.Expired. 0 means
	// events wait as long as it takes.
	Retention time.Duration
	// IdempotencyStore deduplicates this topic when DeliveryMode is
	// ExactlyOnce. Nil: Config.IdempotencyStore.
	IdempotencyStore IdempotencyStore
	// Priority, if set, picks the pool lane of the drainer task an event
	// wakes up. Nil: Config.Priority.
	Priority func(shared.Event) workerpool.Priority
}

// normalize fills the defaults and refuses what cannot be made sense of.
func (c TopicConfig) normalize() (TopicConfig, error) {
	switch {
	case c.BufferSize < 0:
		return c, newConfigError("BufferSize", "negative")
	case c.Partitions < 0:
		return c, newConfigError("Partitions", "negative")
	case c.MaxConcurrency < 0:
		return c, newConfigError("MaxConcurrency", "negative")
	case c.HandlerTimeout < 0:
		return c, newConfigError("HandlerTimeout", "negative")
	case c.Retention < 0:
		return c, newConfigError("Retention", "negative")
	case c.DeadLetter.QueueSize < 0:
		return c, newConfigError("DeadLetter.QueueSize", "negative")
	}
	if c.BufferSize == 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.BufferSize > MaxBufferSize {
		return c, newConfigError("BufferSize", "above MaxBufferSize ("+strconv.Itoa(MaxBufferSize)+")")
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Partitions > MaxPartitions {
		return c, newConfigError("Partitions", "above MaxPartitions ("+strconv.Itoa(MaxPartitions)+")")
	}
	// In int64: on 32-bit platforms the product of two allowed values
	// overflows int.
	if slots := int64(c.Partitions) * int64(c.BufferSize); slots > MaxTopicSlots {
		return c, newConfigError("BufferSize", "Partitions × BufferSize = "+strconv.FormatInt(slots, 10)+
			" slots, above MaxTopicSlots ("+strconv.Itoa(MaxTopicSlots)+")")
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = DefaultMaxConcurrency
	}
	if c.MaxConcurrency > c.BufferSize {
		c.MaxConcurrency = c.BufferSize
	}
	switch c.DeliveryMode {
	case AtLeastOnce, AtMostOnce, ExactlyOnce:
	default:
		return c, newConfigError("DeliveryMode", "unknown mode "+c.DeliveryMode.String())
	}
	switch c.Overflow {
	case workerpool.Block, workerpool.RejectNew:
	default:
		return c, newConfigError("Overflow", c.Overflow.String()+": a topic takes workerpool.Block or workerpool.RejectNew (bound a wait with Publish's ctx)")
	}
	if c.DeadLetter.Handler != nil && !c.DeadLetter.Enabled {
		// As the listener manager does: a handler that would never be
		// called is a mistake, not a choice.
		return c, newConfigError("DeadLetter.Handler", "set without DeadLetter.Enabled")
	}
	if c.DeadLetter.QueueSize == 0 {
		c.DeadLetter.QueueSize = listener.DefaultDeadLetterQueueSize
	}
	return c, nil
}

// DefaultTopicConfig returns the TopicConfig a zero TopicConfig means,
// spelled out: DefaultPartitions partitions of DefaultBufferSize events,
// AtLeastOnce, DefaultMaxConcurrency, events partitioned by ID (no
// OrderingKey). It is a bridge for code written against kolosys/nova (see
// MIGRATING.md); CreateTopic(name, TopicConfig{}) does the same.
func DefaultTopicConfig() TopicConfig {
	return TopicConfig{
		BufferSize:     DefaultBufferSize,
		Partitions:     DefaultPartitions,
		DeliveryMode:   AtLeastOnce,
		MaxConcurrency: DefaultMaxConcurrency,
	}
}
