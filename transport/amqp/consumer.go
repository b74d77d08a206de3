package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/shared"
)

// Consumer receives messages from one queue and runs a Handler on each,
// MaxConcurrentHandlers at a time, with at most Prefetch unacknowledged
// deliveries. Each delivery is acknowledged, retried or dead-lettered
// according to what its handler decides; panics and timeouts are failures
// like any other error. Retries wait in TTL queues and are counted, and
// after Retry.MaxAttempts the message goes to the dead letter, so a poison message
// cannot loop. When the connection is lost the consumer waits for the
// Client to reconnect and resumes; unacknowledged deliveries are redelivered
// by the broker (at-least-once).
//
// A Consumer is safe for concurrent use. Start launches one session
// goroutine and, while connected, MaxConcurrentHandlers handler goroutines;
// Stop ends them. A handler abandoned after HandlerTimeout keeps its
// goroutine until it returns; another takes its place.
type Consumer struct {
	c       *Client
	cfg     ConsumerConfig
	events  EventEncoding
	metrics shared.Metrics
	dlq     string // dead-letter queue when no exchange is configured

	republishFailing atomic.Int64 // retry or dead-letter publishes failed in a row
	dlqDeclared      atomic.Bool  // the default dead-letter queue exists (declared on first use)

	mu       sync.Mutex
	started  bool
	stopped  bool
	handler  Handler
	batch    BatchHandler
	slot     *slot
	stopping chan struct{}
	done     chan struct{}
	hctx     context.Context // parent of handler contexts; cancelled when Stop gives up
	hcancel  context.CancelFunc
	sessions atomic.Uint64

	stats consumerCounters
}

type consumerCounters struct {
	received, acked, retried, deadLettered, requeued atomic.Uint64
	failed, panics, timeouts, malformed, abandoned   atomic.Uint64
	republishFailures                                atomic.Uint64
	inFlight, queued                                 atomic.Int64
	latency                                          histogram
}

// Headers the consumer writes on retried and dead-lettered messages.
const (
	HeaderRetries            = "x-nova-retries"              // retries so far (int64)
	HeaderLastError          = "x-nova-last-error"           // the failure that caused the retry
	HeaderDeadLetterReason   = "x-nova-dead-letter-reason"   // why the message was dead-lettered
	HeaderDeadLetteredFrom   = "x-nova-dead-lettered-from"   // the queue it was consumed from
	HeaderDeadLetteredAt     = "x-nova-dead-lettered-at"     // when (timestamp)
	HeaderOriginalExchange   = "x-nova-original-exchange"    // exchange of the first delivery
	HeaderOriginalRoutingKey = "x-nova-original-routing-key" // routing key of the first delivery
)

// NewConsumer prepares a consumer for cfg.Queue. Nothing is declared or
// consumed until Start.
func (c *Client) NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	k := &Consumer{
		c:       c,
		cfg:     cfg,
		events:  cfg.Events.withDefaults(),
		metrics: cfg.Metrics,
	}
	if k.metrics == nil {
		k.metrics = shared.NopMetrics{}
	}
	if cfg.DeadLetterExchange == "" {
		k.dlq = cfg.Queue + ".dlq"
	}
	return k, nil
}

func (cfg ConsumerConfig) withDefaults() (ConsumerConfig, error) {
	if cfg.Queue == "" {
		return cfg, configErrorf("ConsumerConfig", "consumer needs a queue")
	}
	if cfg.Name == "" {
		cfg.Name = "amqp.consumer"
	}
	if cfg.MaxConcurrentHandlers == 0 {
		cfg.MaxConcurrentHandlers = DefaultMaxConcurrency
	}
	if cfg.MaxConcurrentHandlers > maxHandlers {
		return cfg, configErrorf("ConsumerConfig.MaxConcurrentHandlers", "%d above %d", cfg.MaxConcurrentHandlers, maxHandlers)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = DefaultBatchTimeout
	}
	if cfg.BatchSize < 0 || cfg.BatchSize > maxHandlers || cfg.BatchTimeout < 0 {
		return cfg, configErrorf("ConsumerConfig.BatchSize", "%d (1 to %d), BatchTimeout %v", cfg.BatchSize, maxHandlers, cfg.BatchTimeout)
	}
	if cfg.HandlerTimeout == 0 {
		cfg.HandlerTimeout = DefaultHandlerTimeout
	}
	var err error
	if cfg.Retry, err = retryDefaults("ConsumerConfig.Retry", cfg.Retry, DefaultConsumerAttempts, DefaultRetryDelay, DefaultMaxRetryDelay); err != nil {
		return cfg, err
	}
	if cfg.ErrorPolicy == nil {
		cfg.ErrorPolicy = DefaultErrorPolicy
	}
	if cfg.MaxDecompressedSize == 0 {
		cfg.MaxDecompressedSize = DefaultMaxDecompressed
	}
	switch {
	case cfg.MaxConcurrentHandlers < 0, cfg.Prefetch < 0, cfg.MaxDecompressedSize < 0:
		return cfg, configErrorf("ConsumerConfig", "negative consumer size")
	case cfg.Prefetch > 65535:
		return cfg, configErrorf("ConsumerConfig.Prefetch", "%d above 65535", cfg.Prefetch)
	case cfg.Retry.MaxDelay < cfg.Retry.InitialDelay:
		return cfg, configErrorf("ConsumerConfig.Retry.MaxDelay", "%v below InitialDelay %v", cfg.Retry.MaxDelay, cfg.Retry.InitialDelay)
	case cfg.Retry.MaxDelay > maxRetryDelay:
		return cfg, configErrorf("ConsumerConfig.Retry.MaxDelay", "%v above %v", cfg.Retry.MaxDelay, maxRetryDelay)
	}
	return cfg, cfg.Events.Validate()
}

// RetryQueue is the name of the queue where retries that wait delay sit.
func RetryQueue(queue string, delay time.Duration) string {
	return fmt.Sprintf("%s.retry.%s", queue, delay)
}

// Topology returns what the consumer declares for itself: when it starts,
// one TTL queue per distinct retry delay (none when retries are off),
// dead-lettering back to the consumed queue; and, when it first
// dead-letters a message, the default dead-letter queue "<Queue>.dlq"
// unless DeadLetterExchange is set. A consumer that never dead-letters and
// never retries leaves no queue behind.
func (k *Consumer) Topology() Topology {
	t := k.retryTopology()
	if k.dlq != "" {
		t.Queues = append(t.Queues, k.dlqTopology().Queues...)
	}
	return t
}

func (k *Consumer) dlqTopology() Topology { return Topology{Queues: []Queue{{Name: k.dlq}}} }

// retryTopology is what Start declares: the retry queues.
func (k *Consumer) retryTopology() Topology {
	var t Topology
	// Delays grow until they reach MaxRetryDelay and stay there: however
	// large Retry.MaxAttempts is, there are at most about 64 distinct ones.
	var last time.Duration
	for n := 1; n <= k.maxRetries(); n++ {
		d := k.delay(n)
		if d == last {
			break
		}
		last = d
		t.Queues = append(t.Queues, Queue{
			Name:                 RetryQueue(k.cfg.Queue, d),
			MessageTTL:           d,
			DeadLetterRoutingKey: k.cfg.Queue,
			Args:                 Table{"x-dead-letter-exchange": ""},
		})
	}
	return t
}

// delay is the wait before retry number n (1 for the first retry).
func (k *Consumer) delay(n int) time.Duration { return k.cfg.Retry.BaseDelay(n) }

// maxRetries is how many times a failed message is delivered again.
func (k *Consumer) maxRetries() int { return k.cfg.Retry.MaxAttempts - 1 }

// Start declares the consumer's retry and dead-letter queues, checks that
// its queue (and DeadLetterExchange, if set) exist, and begins consuming
// with h. It returns once the broker has registered the consumer; with an
// error if ctx ends first; and with ErrClosed if Stop or Client.Close runs
// meanwhile. A missing queue fails with ErrQueueNotFound. Consuming
// continues until Stop, across reconnections. Start may be called once.
func (k *Consumer) Start(ctx context.Context, h Handler) error {
	if h == nil {
		return ErrNilHandler
	}
	return k.start(ctx, h, nil)
}

// prefetch is Prefetch, or its default for the way the consumer runs.
func (k *Consumer) prefetch() int {
	switch {
	case k.cfg.Prefetch > 0:
		return k.cfg.Prefetch
	case k.batch != nil:
		return min(k.cfg.BatchSize*k.cfg.MaxConcurrentHandlers, 65535)
	}
	return min(2*k.cfg.MaxConcurrentHandlers, 65535)
}

func (k *Consumer) start(ctx context.Context, h Handler, bh BatchHandler) error {
	ctx = orBackground(ctx)
	k.mu.Lock()
	if k.started {
		k.mu.Unlock()
		return ErrAlreadyStarted
	}
	k.started = true
	k.mu.Unlock()
	own := k.retryTopology()
	if err := k.prepare(ctx, own); err != nil {
		k.mu.Lock()
		k.started = false // nothing started: Start may be tried again
		k.mu.Unlock()
		return err
	}
	k.mu.Lock()
	if k.stopped { // Stop (or Client.Close) came while Start was preparing
		k.mu.Unlock()
		k.c.unregister(nil, k)
		return fmt.Errorf("amqp: consumer %q did not start: %w", k.cfg.Queue, ErrClosed)
	}
	k.handler, k.batch = h, bh
	if k.c.topologySnapshot().exclusive(k.cfg.Queue) {
		k.slot = k.c.assignHome() // only the connection that owns the queue may consume it
	} else {
		k.slot = k.c.assign()
	}
	k.stopping = make(chan struct{})
	k.done = make(chan struct{})
	k.hctx, k.hcancel = context.WithCancel(context.Background())
	done := k.done
	k.mu.Unlock()

	began := make(chan struct{})
	go k.run(began)
	select {
	case <-began:
		return nil
	case <-done:
		select {
		case <-began: // it began, then was stopped: Start did its job
			return nil
		default:
		}
		return fmt.Errorf("amqp: consumer %q did not start: %w", k.cfg.Queue, ErrClosed)
	case <-ctx.Done():
		_ = k.Stop(context.Background())
		return fmt.Errorf("amqp: consumer %q did not start: %w", k.cfg.Queue, ctx.Err())
	}
}

// prepare declares the consumer's own queues, checks that the queues and
// exchanges it depends on exist, and registers it with the client, which
// declares own again after reconnections until the consumer stops.
func (k *Consumer) prepare(ctx context.Context, own Topology) error {
	// Check first, so that a consumer that cannot start leaves nothing
	// behind.
	if err := k.c.withChannel(ctx, func(ch *amqp091.Channel) error {
		if _, err := ch.QueueDeclarePassive(k.cfg.Queue, false, false, false, false, nil); err != nil {
			if isNotFound(err) {
				return fmt.Errorf("%w: %q: %w", ErrQueueNotFound, k.cfg.Queue, err)
			}
			return fmt.Errorf("amqp: consumer queue %q: %w", k.cfg.Queue, err)
		}
		return nil
	}); err != nil {
		return err
	}
	if x := k.cfg.DeadLetterExchange; x != "" {
		if err := k.c.withChannel(ctx, func(ch *amqp091.Channel) error {
			if err := ch.ExchangeDeclarePassive(x, "topic", true, false, false, false, nil); err != nil {
				return fmt.Errorf("%w: dead-letter exchange %q: %w", ErrExchangeNotFound, x, err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := k.c.declareNow(ctx, own); err != nil {
		return err
	}
	return k.c.register(nil, k, own)
}

// isNotFound reports the broker's 404 NOT_FOUND: a queue or exchange that
// does not exist.
func isNotFound(err error) bool {
	var ae *amqp091.Error
	return errors.As(err, &ae) && ae.Code == amqp091.NotFound
}

// StartEvents starts consuming events: each delivery is decoded with
// ConsumerConfig.Events and handed to l (see EventHandler).
func (k *Consumer) StartEvents(ctx context.Context, l shared.Listener) error {
	if err := shared.ValidateListener(l); err != nil {
		return err
	}
	return k.Start(ctx, EventHandler(k.events, l))
}

// run is the session loop: wait for a connection, consume until the channel
// goes away, repeat until Stop.
func (k *Consumer) run(began chan struct{}) {
	defer close(k.done)
	var once sync.Once
	attempt := 0
	for {
		gen, ready := k.slot.current()
		if gen == nil {
			select {
			case <-ready:
				continue
			case <-k.stopping:
				return
			case <-k.c.closing:
				return
			}
		}
		ch, tag, deliveries, err := k.open(gen)
		if err != nil {
			attempt++
			k.c.logWarn("amqp: consume failed", "queue", k.cfg.Queue, "attempt", attempt, "error", err)
			if isNotFound(err) {
				// The queue vanished (deleted, or transient and the broker
				// restarted): declare the topology again before retrying.
				_ = k.c.redeclare(k.hctx)
			}
			t := time.NewTimer(k.c.cfg.Reconnect.Jittered(attempt))
			select {
			case <-t.C:
				continue
			case <-gen.lost:
				t.Stop()
				continue
			case <-k.stopping:
				t.Stop()
				return
			}
		}
		attempt = 0
		k.sessions.Add(1)
		once.Do(func() { close(began) })
		if k.consume(ch, tag, deliveries) {
			return
		}
	}
}

func (k *Consumer) open(gen *connGen) (*amqp091.Channel, string, <-chan amqp091.Delivery, error) {
	ch, err := gen.conn.Channel()
	if err != nil {
		return nil, "", nil, err
	}
	if err := ch.Qos(k.prefetch(), 0, false); err != nil {
		_ = ch.Close()
		return nil, "", nil, err
	}
	tag := fmt.Sprintf("%s-%s-%d", k.cfg.Name, k.cfg.Queue, k.sessions.Load()+1)
	deliveries, err := ch.Consume(k.cfg.Queue, tag, false, k.cfg.Exclusive, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return nil, "", nil, err
	}
	return ch, tag, deliveries, nil
}

// session is the set of handler goroutines of one consuming channel. Each
// goroutine holds one count in wg; a goroutine whose handler is abandoned
// after HandlerTimeout hands its count to the goroutine that replaces it,
// so wg waits for the goroutines that take deliveries, never for abandoned
// handlers.
type session struct {
	k          *Consumer
	deliveries <-chan amqp091.Delivery
	wg         sync.WaitGroup
}

// work takes deliveries until the channel ends them, or until this
// goroutine's handler is abandoned.
func (s *session) work() {
	handedOver := false
	defer func() {
		if !handedOver {
			s.wg.Done()
		}
	}()
	for d := range s.deliveries {
		if s.k.isStopping() {
			// Not started: hand it back untouched.
			_ = d.Nack(false, true)
			s.k.stats.requeued.Add(1)
			continue
		}
		if !s.k.process(s, &d) {
			handedOver = true
			return
		}
	}
}

// consume runs the handler goroutines until the deliveries end (channel or
// connection lost, consumer cancelled by the broker) or Stop. It reports
// whether the consumer is stopping.
func (k *Consumer) consume(ch *amqp091.Channel, tag string, deliveries <-chan amqp091.Delivery) bool {
	s := &session{k: k, deliveries: deliveries}
	s.wg.Add(k.cfg.MaxConcurrentHandlers)
	for range k.cfg.MaxConcurrentHandlers {
		if k.batch != nil {
			go s.workBatches()
		} else {
			go s.work()
		}
	}
	workers := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(workers)
	}()
	stopping := false
	select {
	case <-workers:
	case <-k.stopping:
		stopping = true
		_ = ch.Cancel(tag, false)
		<-workers
	}
	_ = ch.Close()
	return stopping || k.isStopping()
}

func (k *Consumer) isStopping() bool { return isClosed(k.stopping) }

// Stop stops taking deliveries, lets the handlers already running finish
// and settle their messages, then closes the consumer's channel. Deliveries
// received but not started are handed back to the broker. Handlers
// abandoned after HandlerTimeout are not waited for. If ctx ends first,
// handler contexts are cancelled and Stop returns ctx.Err(); the broker
// redelivers whatever was not acknowledged. A Stop during Start makes Start
// give up with ErrClosed. Calling Stop again waits for the first call.
func (k *Consumer) Stop(ctx context.Context) error {
	ctx = orBackground(ctx)
	k.mu.Lock()
	if !k.started {
		k.mu.Unlock()
		return ErrNotStarted
	}
	if k.done == nil { // Start is preparing: it sees this and gives up
		k.stopped = true
		k.mu.Unlock()
		return nil
	}
	first := !k.stopped
	if first {
		k.stopped = true
		close(k.stopping)
	}
	k.mu.Unlock()
	var err error
	select {
	case <-k.done:
	case <-ctx.Done():
		k.hcancel()
		err = ctx.Err()
	}
	if first {
		k.hcancel()
		k.c.unassign(k.slot)
		k.c.unregister(nil, k)
	}
	return err
}

// ConsumerStats is a snapshot of a Consumer's counters.
type ConsumerStats struct {
	Received     uint64 // deliveries taken from the broker
	Acked        uint64 // handled and acknowledged
	Retried      uint64 // sent to a retry queue
	DeadLettered uint64 // sent to the dead letter
	Requeued     uint64 // handed back untouched (stopping, or a retry that could not be published)
	Failed       uint64 // handler calls that failed, panics and timeouts included
	Panics       uint64
	Timeouts     uint64
	Malformed    uint64 // deliveries that could not be decoded
	// Abandoned counts handler calls still running when HandlerTimeout
	// passed: their deliveries were settled without them (and counted in
	// Timeouts), their results discarded.
	Abandoned uint64
	// RepublishFailures counts retry and dead-letter publishes that failed
	// even after the topology was declared again: the message was handed
	// back to the queue after a growing pause (the Client's Reconnect
	// backoff), so that it cannot loop hot.
	RepublishFailures uint64
	InFlight          int // handlers running now, abandoned ones included
	// Queued counts deliveries this process holds that no handler has
	// started yet: those gathering into batches (StartBatch). Deliveries
	// prefetched into the AMQP client's buffer, at most Prefetch, are not
	// visible here.
	Queued   int
	Sessions uint64 // times consuming started, reconnections included
	// HandlerLatency is the time handlers took.
	HandlerLatency Histogram
}

// Stats returns a snapshot.
func (k *Consumer) Stats() ConsumerStats {
	s := &k.stats
	return ConsumerStats{
		Received:          s.received.Load(),
		Acked:             s.acked.Load(),
		Retried:           s.retried.Load(),
		DeadLettered:      s.deadLettered.Load(),
		Requeued:          s.requeued.Load(),
		Failed:            s.failed.Load(),
		Panics:            s.panics.Load(),
		Timeouts:          s.timeouts.Load(),
		Malformed:         s.malformed.Load(),
		Abandoned:         s.abandoned.Load(),
		RepublishFailures: s.republishFailures.Load(),
		InFlight:          int(s.inFlight.Load()),
		Queued:            int(s.queued.Load()),
		Sessions:          k.sessions.Load(),
		HandlerLatency:    s.latency.snapshot(),
	}
}
