package amqp

import (
	"crypto/tls"
	"log/slog"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// Defaults used when a config field is left at its zero value.
const (
	DefaultURL                   = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultConnectionName        = "nova"
	DefaultDialTimeout           = 10 * time.Second
	DefaultHeartbeat             = 10 * time.Second
	DefaultMinConnections        = 1
	DefaultMaxConnections        = 2
	DefaultChannelPoolSize       = 16
	DefaultMaxBorrowedChannels   = 256
	DefaultBorrowTimeout         = 30 * time.Second
	DefaultHealthCheckInterval   = 15 * time.Second
	DefaultReconnectInitialDelay = 100 * time.Millisecond
	DefaultReconnectMaxDelay     = 10 * time.Second
	DefaultStateBufferSize       = 64

	DefaultWorkerCount      = 2
	DefaultMaxInFlight      = 512
	DefaultPublishTimeout   = 30 * time.Second
	DefaultMaxAttempts      = 5
	DefaultRetryInitial     = 50 * time.Millisecond
	DefaultRetryMax         = 2 * time.Second
	DefaultBackoffFactor    = 2.0
	DefaultMaxDecompressed  = 8 << 20
	DefaultMaxConcurrency   = 8
	DefaultHandlerTimeout   = 30 * time.Second
	DefaultConsumerAttempts = 4
	DefaultRetryDelay       = time.Second
	DefaultMaxRetryDelay    = time.Minute
	DefaultEventSource      = "nova"
	DefaultReasonHeaderSize = 1024
	DefaultBatchSize        = 100
	DefaultBatchTimeout     = 100 * time.Millisecond
)

// Upper limits of config values. Larger values would allocate without
// bound or exceed what the broker accepts; they are refused with
// ErrInvalidConfig.
const (
	maxConnections     = 1024
	maxChannelPoolSize = 2047 // RabbitMQ's default channel_max per connection
	maxStateBufferSize = 1 << 20
	maxWorkerCount     = 1024
	maxInFlight        = 1 << 16
	maxQueueSize       = 1 << 20
	maxHandlers        = 65535 // the largest Prefetch AMQP can express
	maxRetryDelay      = (1<<32 - 1) * time.Millisecond
)

// Config configures a Client: where the broker is, how connections are
// pooled and how they come back after a failure. The zero value connects to
// DefaultURL with the defaults below.
type Config struct {
	// URL is the broker address, amqp:// or amqps://. Default DefaultURL
	// when URLs is empty too.
	URL string
	// URLs are further brokers (the nodes of a cluster, or fallbacks) for
	// when URL cannot be reached. Every connection tries URL then each of
	// URLs in order, and moves on to the next when one cannot be reached,
	// starting again from the first after the Reconnect backoff once all
	// have failed; StateChange.URL says which one a connection uses. Dial
	// refuses a malformed address with ErrInvalidConfig.
	URLs []string
	// TLS, when set, is used for the connection (and implied by amqps://).
	// Default nil: plain TCP for amqp:// URLs.
	TLS *tls.Config
	// Name is shown as the connection name in the broker's management tools,
	// with "#<n>" appended per pooled connection. Default "nova".
	Name string
	// DialTimeout bounds one TCP and AMQP handshake. Default 10s.
	DialTimeout time.Duration
	// Heartbeat is the AMQP heartbeat interval that detects dead peers.
	// Default 10s.
	Heartbeat time.Duration

	// MinConnections are opened by Dial. Default 1.
	MinConnections int
	// MaxConnections is the size of the connection pool: long-lived channels
	// (publisher workers, consumers) are spread over up to this many
	// connections, opened when first needed. Default 2, at most 1024.
	MaxConnections int
	// ChannelPoolSize is how many idle channels each connection keeps for
	// short operations (declarations, retry and dead-letter publishes).
	// Default 16, at most 2047.
	ChannelPoolSize int
	// MaxBorrowedChannels bounds the pooled channels borrowed from one
	// connection at once (for declarations, deletions, retry and
	// dead-letter publishes); further borrowers wait. Default 256, at most
	// 2047.
	MaxBorrowedChannels int
	// BorrowTimeout bounds how long borrowing a pooled channel waits for a
	// connection and for a free place; then it fails with
	// ErrBorrowTimeout. The caller's ctx can only shorten it. Default 30s.
	BorrowTimeout time.Duration
	// HealthCheckInterval is how often the pool sweeps out idle channels
	// and connections that have closed (the broker closed them, or their
	// connection went away), so that no borrower picks up a dead one. The
	// sweep sends nothing to the broker: Heartbeat is what detects a peer
	// that stopped answering. Default 15s.
	HealthCheckInterval time.Duration

	// Reconnect is the backoff between reconnection attempts (full jitter).
	// Default 100ms doubling up to 10s.
	Reconnect ReconnectPolicy

	// Topology is declared on every pooled connection before it is used
	// (exclusive queues on the first connection only), and again after
	// every reconnection. Declare adds to it at run time. The Client keeps
	// a copy.
	Topology Topology

	// OnStateChange, if set, is called for every connection state change. It
	// runs on a goroutine owned by the Client, one call at a time, behind a
	// queue of StateBufferSize changes; when the callback falls behind, new
	// changes are dropped and counted in ClientStats.StateChangesDropped, so a
	// slow callback never delays the library.
	OnStateChange func(StateChange)
	// StateBufferSize bounds the queue in front of OnStateChange. Default 64,
	// at most 1<<20.
	StateBufferSize int

	// Logger receives connection events. Default: nothing is logged.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" && len(c.URLs) == 0 {
		c.URL = DefaultURL
	}
	if c.Name == "" {
		c.Name = DefaultConnectionName
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.MinConnections == 0 {
		c.MinConnections = DefaultMinConnections
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = max(DefaultMaxConnections, c.MinConnections)
	}
	if c.ChannelPoolSize == 0 {
		c.ChannelPoolSize = DefaultChannelPoolSize
	}
	if c.HealthCheckInterval == 0 {
		c.HealthCheckInterval = DefaultHealthCheckInterval
	}
	if c.MaxBorrowedChannels == 0 {
		c.MaxBorrowedChannels = DefaultMaxBorrowedChannels
	}
	if c.BorrowTimeout == 0 {
		c.BorrowTimeout = DefaultBorrowTimeout
	}
	c.Reconnect = c.Reconnect.withDefaults(DefaultReconnectInitialDelay, DefaultReconnectMaxDelay)
	if c.StateBufferSize == 0 {
		c.StateBufferSize = DefaultStateBufferSize
	}
	switch {
	case c.MaxBorrowedChannels < 0 || c.MaxBorrowedChannels > maxChannelPoolSize:
		return c, configErrorf("Config.MaxBorrowedChannels", "%d (1 to %d)", c.MaxBorrowedChannels, maxChannelPoolSize)
	case c.DialTimeout < 0, c.Heartbeat < 0, c.HealthCheckInterval < 0, c.BorrowTimeout < 0:
		return c, configErrorf("Config", "negative duration")
	case c.MinConnections < 0 || c.MaxConnections < 1 || c.MinConnections > c.MaxConnections:
		return c, configErrorf("Config.MinConnections", "%d, MaxConnections %d", c.MinConnections, c.MaxConnections)
	case c.MaxConnections > maxConnections:
		return c, configErrorf("Config.MaxConnections", "%d above %d", c.MaxConnections, maxConnections)
	case c.ChannelPoolSize < 0, c.StateBufferSize < 0:
		return c, configErrorf("Config", "negative pool or buffer size")
	case c.ChannelPoolSize > maxChannelPoolSize, c.StateBufferSize > maxStateBufferSize:
		return c, configErrorf("Config.ChannelPoolSize", "%d (at most %d), StateBufferSize %d (at most %d)",
			c.ChannelPoolSize, maxChannelPoolSize, c.StateBufferSize, maxStateBufferSize)
	}
	if err := c.Reconnect.validate(); err != nil {
		return c, err
	}
	for _, u := range c.addresses() {
		if err := validateURL(u); err != nil {
			return c, err
		}
	}
	if err := c.Topology.validate(); err != nil {
		return c, err
	}
	return c, nil
}

// Overflow says what PublishAsync does when the publisher's queue is full.
// It is workerpool.Overflow, the one overflow vocabulary of Nova's
// packages. A Publisher takes workerpool.Block (the default: wait for room,
// bounded by the caller's context and PublishTimeout) and
// workerpool.RejectNew (fail the publish at once with ErrBufferFull and
// count it as dropped); NewPublisher refuses the others with a
// *ConfigError.
type Overflow = workerpool.Overflow

// OverflowPolicy is Overflow.
//
// Deprecated: use Overflow (workerpool.Overflow).
type OverflowPolicy = Overflow

// The overflow policies' names before Nova had one vocabulary.
var (
	// Deprecated: use workerpool.Block.
	Block = workerpool.Block
	// Deprecated: use workerpool.RejectNew.
	RejectNew = workerpool.RejectNew
)

// PublisherConfig configures a Publisher. The zero value works.
type PublisherConfig struct {
	// Name labels the publisher in metrics. Default "amqp.publisher".
	Name string
	// WorkerCount is the number of confirm-mode channels publishing in
	// parallel, each with its own goroutines, spread over the client's
	// connection pool. Default 2, at most 1024.
	WorkerCount int
	// MaxInFlight is how many publishes each worker may have sent and not
	// yet settled (confirmed, failed or waiting to be retried). Confirms are
	// pipelined up to this window. Default 512, at most 65,536.
	MaxInFlight int
	// QueueSize bounds the publishes accepted but not yet taken by a worker.
	// Default WorkerCount × MaxInFlight, at most 1<<20 (1,048,576).
	QueueSize int
	// Overflow is what happens when the queue is full: workerpool.Block
	// (the default) or workerpool.RejectNew.
	Overflow Overflow
	// PublishTimeout bounds a publish from the call to its confirm, retries
	// and reconnections included; when it passes the receipt fails with
	// ErrPublishTimeout. Default 30s.
	PublishTimeout time.Duration
	// Retry governs publishes the broker nacked or returned: at most
	// MaxAttempts tries with full-jitter exponential backoff. Publishes lost
	// with a connection are sent again without using up attempts, until
	// PublishTimeout. Default 5 attempts, 50ms doubling up to 2s.
	Retry RetryPolicy
	// Mandatory asks the broker to return messages no queue would receive;
	// they fail with a *ReturnedError (ErrUnroutable) once retries are
	// exhausted. Message.Mandatory sets it per message. Default false.
	Mandatory bool
	// CompressAbove gzips bodies larger than this many bytes and sets the
	// content-encoding to "gzip". Default 0: never compress.
	CompressAbove int
	// CompressionLevel is the gzip level. Default gzip.DefaultCompression.
	CompressionLevel int
	// Events configures how PublishEvent encodes events.
	Events EventEncoding
	// Metrics receives EventEmitted and EventDropped reports. Default none.
	Metrics shared.Metrics
	// Logger receives publisher warnings. Default: nothing is logged.
	Logger *slog.Logger
}

// RetryPolicy is how often and how patiently a failed publish is retried:
// listener.RetryPolicy, Nova's one retry policy. A Publisher uses its
// MaxAttempts (every try, the first one included; 1 disables retries;
// default 5 here), InitialDelay (default 50ms), MaxDelay (default 2s),
// Multiplier, Backoff and Jitter (full jitter by default). Its
// RetryCondition and RetryableErrors are not consulted: a nack or a return
// is always worth another try.
type RetryPolicy = listener.RetryPolicy

// ConsumerConfig configures a Consumer. Queue is required; everything else
// has a default.
type ConsumerConfig struct {
	// Queue to consume from. It must exist (declare it in the Topology).
	Queue string
	// Name labels the consumer in metrics and prefixes its consumer tag.
	// Default "amqp.consumer".
	Name string
	// MaxConcurrentHandlers is the number of goroutines that take
	// deliveries and run the handler: at most this many handler calls run
	// at once, apart from calls abandoned after HandlerTimeout. Default 8,
	// at most 65,535.
	MaxConcurrentHandlers int
	// Prefetch is the broker-side limit of unacknowledged deliveries.
	// Default 2 × MaxConcurrentHandlers, or BatchSize ×
	// MaxConcurrentHandlers for StartBatch (at most 65,535).
	Prefetch int
	// HandlerTimeout is the deadline given to each handler call, through
	// its ctx. Once it passes, the delivery is settled as failed with a
	// *shared.TimeoutError (retried or dead-lettered through ErrorPolicy)
	// whether or not the handler has returned: a handler that ignores ctx
	// is abandoned, left to finish on its own goroutine with its result
	// discarded and counted in ConsumerStats.Abandoned, and a new goroutine
	// takes its place. A negative value disables the timeout. Default 30s.
	HandlerTimeout time.Duration
	// Retry governs failed deliveries, in Nova's one retry vocabulary
	// (listener.RetryPolicy): MaxAttempts counts every delivery, the first
	// included, before the message is dead-lettered (default
	// DefaultConsumerAttempts, 4; 1 never retries); retry n waits
	// BaseDelay(n): InitialDelay (default 1s) growing by Backoff and
	// Multiplier (default exponential, ×2) up to MaxDelay (default 1m, at
	// most about 49 days, 2³²-1 ms, the longest TTL the broker accepts).
	// Retries wait in per-delay queues named "<Queue>.retry.<delay>" whose
	// TTL sends them back to Queue, so Jitter is not applied (it would
	// need a queue per delay drawn). ErrorPolicy, not RetryCondition or
	// RetryableErrors, decides which errors are retried.
	Retry RetryPolicy
	// DeadLetterExchange receives rejected and exhausted messages with their
	// original routing key. It must exist. Default "": they go to the queue
	// "<Queue>.dlq", declared by the consumer.
	DeadLetterExchange string
	// ErrorPolicy maps a handler error to a decision. Default
	// DefaultErrorPolicy.
	ErrorPolicy func(error) AckDecision
	// Exclusive asks to be the queue's only consumer. Default false. (An
	// exclusive queue, Queue.Exclusive, is another matter: its consumers
	// always use the Client's first connection, which owns it.)
	Exclusive bool
	// BatchSize is the most deliveries StartBatch hands its BatchHandler at
	// once. Default 100, at most 65,535.
	BatchSize int
	// BatchTimeout is how long the first delivery of a batch waits for the
	// batch to fill before it is handed over anyway. Default 100ms.
	BatchTimeout time.Duration
	// MaxDecompressedSize bounds a gzip body once inflated; a larger one is
	// malformed (dead-lettered), and one whose gzip trailer admits to being
	// larger is refused without inflating it. Each handler goroutine holds
	// at most about twice this while inflating. Default 8 MiB.
	MaxDecompressedSize int
	// Events configures how StartEvents decodes deliveries into events.
	Events EventEncoding
	// Metrics receives EventHandled, EventRetried and EventDeadLettered
	// reports. Default none.
	Metrics shared.Metrics
	// Logger receives consumer warnings. Default: nothing is logged.
	Logger *slog.Logger
}

// addresses is URL followed by URLs.
func (c Config) addresses() []string {
	if c.URL == "" {
		return c.URLs
	}
	return append([]string{c.URL}, c.URLs...)
}

// validateURL refuses what no retry can fix: a malformed address, or one
// whose scheme is not amqp or amqps.
func validateURL(raw string) error {
	if raw == "" {
		return configErrorf("Config", "empty broker URL")
	}
	if _, err := amqp091.ParseURI(raw); err != nil {
		return configErrorf("Config", "broker URL %s: %v", redact(raw), err)
	}
	return nil
}
