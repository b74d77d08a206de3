// Package bus routes events through named topics to subscribers, with
// partitions, per-key ordering, three delivery modes, consumer groups and
// bounded memory everywhere.
//
// # The model
//
// A topic is split into partitions. Publish puts an event in one of them:
// the one its ordering key hashes to (FNV-1a modulo the partition count), or,
// for an event without a key, the one its ID hashes to. A partition is a
// bounded buffer (TopicConfig.BufferSize) that every subscriber reads at its
// own pace; an event's slot is reused once every subscriber has settled it.
// When a partition is full, Publish waits until ctx is done (workerpool.Block,
// the default) or returns ErrBufferFull (workerpool.RejectNew). A slow subscriber
// therefore delays the others only once it is BufferSize events behind.
//
// A subscriber is a Subscribe call, a SubscribePattern call (one subscriber
// per matching topic, including topics created later) or a consumer group
// (SubscribeGroup: each event goes to one member). Every subscriber receives
// every event published after it subscribed.
//
// Ordering: events with the same ordering key reach each subscriber in
// publish order, one at a time, retries included: while an event waits for
// its retry, the later events of its key wait too, and other keys go on.
// TopicConfig.MaxConcurrency lets a subscriber run that many events of one
// partition at once, always of different keys. Events without a key
// (no OrderingKey, or it returned "") are unordered: they may run before,
// after or beside any other event, and a retried one comes back after later
// ones.
//
// Delivery: AtLeastOnce (the default) retries a failed attempt (an error, a
// panic, an overrun HandlerTimeout) with the topic's listener.RetryPolicy
// and backoff, until it succeeds or the policy gives up; then the event is
// dead-lettered. An attempt whose handler returns nil has succeeded, in
// every mode, even if it returned after its HandlerTimeout. Nothing accepted is dropped silently: every event that is
// not handled is counted in Stats, by reason. AtMostOnce makes one attempt.
// ExactlyOnce adds deduplication by event ID per subscriber through an
// IdempotencyStore; read its doc for what that does and does not survive.
//
// # Goroutines and the pool
//
// Handlers run on a workerpool.Pool (Config.WorkerPool, or one the bus
// creates). The bus parks no worker per partition: when an event arrives
// for a subscriber with nothing running, it submits a drainer task that
// handles events until none is runnable, or until it has handled a batch
// and gives its worker back. Nothing starts a goroutine per event. New
// starts two goroutines: the retry timer (one heap and one timer for all
// backoffs) and a rescuer (internal/drain) that waits for pool room when
// the pool's queue is full. Shutdown stops them.
//
// Every attempt goes through the listener manager (Config.Listeners, or
// the bus's own): a listener.Route per subscriber makes the attempt and
// returns the verdict (retry after a delay, or give up) under the
// listener's registration or, if it has none, the topic's policies; the
// bus only keeps the event and waits. Every event given up on is a dead
// letter in the manager's store (Bus.Listeners().DeadLetters, Redrive),
// handed once to the configured handler on the manager's goroutine.
//
// # The broker seam
//
// Partitions live behind the Broker interface (Partition, Cursor, with
// Ack and Nack). Nova ships two implementations: the in-memory
// MemoryBroker, the default, and amqp.Broker (package transport/amqp),
// which runs the same topics, ordering keys and consumer groups across
// processes on RabbitMQ; its doc says what survives a broker restart, a
// member's crash and a publisher's crash before and after the confirm.
// Other brokers plug in through the same interfaces (package brokertest is
// the conformance suite, with RunDurable for brokers whose consumer groups
// outlive their members), and the bus's ordering, retries, groups and
// statistics then work unchanged on top of them. With a remote broker,
// Publish returns once the broker has the event (for RabbitMQ, once it
// confirmed it), and PublishAsync keeps many publishes in flight from one
// goroutine. The bus does not trust such a broker's
// messages: one that Publish would have refused (a nil event, an empty ID
// or type) is acknowledged and counted as DropMalformed, never handled.
//
// # Costs
//
// Publish costs a hash, a mutex and no allocation; each partition's ring
// takes 64 bytes per slot of BufferSize (rounded up to a power of two),
// allocated by CreateTopic, so a zero TopicConfig costs 256 KiB. Fan-out
// copies nothing: every subscriber reads the same ring. A retry allocates
// its timer entry; ExactlyOnce costs an IdempotencyStore claim and record.
//
// # Handlers that publish
//
// A handler may publish, subscribe and unsubscribe. But a handler that
// publishes to a topic it consumes, with workerpool.Block and a ctx without
// deadline, can wait forever once the partition is full, since its own
// subscriber is the one that must make room: give it a deadline, or use
// workerpool.RejectNew. A handler must not call Shutdown and wait for it.
//
// # Shutdown
//
// Shutdown(ctx) refuses new events (ErrClosed), delivers everything
// accepted, pending retries included, and returns ctx.Err() if time runs
// out first. It is idempotent and safe to race with Publish. Handlers that
// are still running when it runs out of time (and the dead-letter calls
// already queued) finish afterwards; calling Shutdown again waits for them.
//
// # Memory
//
// Everything the bus holds is bounded: the partitions by BufferSize, each
// lane by its partition, the retry heap by the events held, the
// dead-letter queue by DeadLetter.QueueSize. Removing a subscriber or a
// topic releases its state once its last running attempt returns; only
// its counts are kept, in Stats.
//
// # Example
//
//	b := bus.New(bus.Config{WorkerPool: pool})
//	defer b.Shutdown(ctx)
//	_ = b.CreateTopic("orders", bus.TopicConfig{
//		Partitions:  16,
//		OrderingKey: func(e shared.Event) string { return e.Metadata()["customer_id"] },
//	})
//	b.Subscribe("orders", shared.NewBaseListener("billing", bill))
//	err := b.Publish(ctx, "orders", order)
package bus
