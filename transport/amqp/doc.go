// Package amqp carries Nova events and plain messages over RabbitMQ (AMQP
// 0-9-1, on github.com/rabbitmq/amqp091-go), with the guarantees a broker
// client is expected to keep and often does not.
//
// # Model
//
// A [Client] owns a pool of connections (MinConnections opened by [Dial],
// up to MaxConnections on demand) and a pool of short-lived channels per
// connection (at most MaxBorrowedChannels borrowed at once, waited for up
// to BorrowTimeout). Each connection goes to the first broker of
// Config.URL and Config.URLs that answers. [Dial] refuses a malformed
// config at once with ErrInvalidConfig. When a connection is lost it
// reconnects with jittered exponential backoff (to the next broker if the
// first is gone), declares the [Topology] again (exchanges, classic or
// quorum queues, bindings, dead-letter settings) and lets everything built
// on it resume. Exclusive queues belong to one connection: the first pooled
// connection declares them, and their consumers run on it. Connection state changes go to Config.OnStateChange on a
// goroutine of their own, behind a bounded queue: a slow callback never
// blocks the library.
//
// A [Publisher] sends with publisher confirms. Each of its WorkerCount
// workers owns a confirm-mode channel and pipelines up to MaxInFlight
// unconfirmed messages. [Publisher.PublishAsync] returns a [Receipt], a
// future with Done, Wait and Err that resolves in publish order: nil once
// the broker confirmed the message, an error otherwise. Nacked and returned
// (mandatory, unroutable) messages are retried with full-jitter backoff up
// to Retry.MaxAttempts; messages lost with a connection are sent again once
// it is back, so publishes made during an outage wait (bounded by ctx and
// PublishTimeout) instead of failing. A receipt never says "confirmed" for
// a message the broker did not confirm.
//
// A [Consumer] runs a [Handler] on each delivery with MaxConcurrentHandlers
// goroutines, Prefetch unacknowledged deliveries, a HandlerTimeout and
// panic recovery. The handler's [AckDecision] (or its error, through
// ErrorPolicy) acknowledges, retries or dead-letters. A handler still
// running at its HandlerTimeout is abandoned: its delivery is settled as
// timed out and another goroutine takes its place. [Consumer.StartBatch]
// runs a [BatchHandler] on batches of up to BatchSize deliveries instead,
// flushed when full or BatchTimeout after their first delivery. Retries wait in TTL
// queues named "<queue>.retry.<delay>" and are counted in a header; after
// Retry.MaxAttempts the message goes to the dead letter ("<queue>.dlq" by
// default) with the reason, so a poison message cannot loop. When a retry
// or dead letter cannot be published (its queue or exchange was deleted),
// the consumer declares the topology again; failing that, it hands the
// message back to its queue after a pause that grows with each failure in
// a row. Headers of every AMQP type, x-death included, reach the handler
// untouched.
//
// Events travel per the CloudEvents AMQP binding (see [EventEncoding]):
// in binary mode by default, attributes in "cloudEvents_*" headers and the
// payload encoded by the codec registry (JSON by default) in the body; in
// structured mode, one application/cloudevents+json object. Both modes and
// both header prefixes are read. Metadata keys that are not valid
// attribute names travel inside the novametadata extension, so every
// CloudEvents SDK accepts the events and metadata round-trips exactly. A
// message that cannot be decoded, or whose event shared.Validate refuses,
// is dead-lettered with a *[MalformedError].
//
// # The bus across processes
//
// [Client.NewBroker] returns a [Broker], a bus.Broker on RabbitMQ: the bus
// package's topics, ordering keys and consumer groups then span processes.
// Its doc describes the mapping to exchanges and queues, how consumer
// groups share partitions, and what survives a crash.
//
// # Goroutines and shutdown
//
// The Client runs one supervisor per open connection, one health checker
// and, with OnStateChange, one callback runner. A Publisher runs two
// goroutines per worker and one deadline watcher. A Consumer runs one
// session goroutine and MaxConcurrentHandlers handler goroutines while
// connected, and an abandoned handler keeps its goroutine until it
// returns. Nothing starts a goroutine per message.
//
// [Publisher.Close] stops accepting, waits for pending confirms, then
// resolves whatever is left with [ErrClosed]; when ctx ends first it
// returns without waiting for a worker stuck writing to a blocked
// connection. [Consumer.Stop] stops taking
// deliveries, lets running handlers finish and settle, and hands unstarted
// deliveries back. [Client.Close] does both for everything built on it,
// then closes the connections. All are idempotent and bounded by ctx.
//
// # Example
//
//	client, err := amqp.Dial(ctx, amqp.Config{
//		URL: "amqp://guest:guest@127.0.0.1:5672/",
//		Topology: amqp.Topology{
//			Exchanges: []amqp.Exchange{{Name: "orders"}},
//			Queues:    []amqp.Queue{{Name: "billing", Type: amqp.Quorum}},
//			Bindings:  []amqp.Binding{{Queue: "billing", Exchange: "orders", Key: "order.*"}},
//		},
//	})
//	if err != nil { ... }
//	defer client.Close(ctx)
//
//	pub, _ := client.NewPublisher(amqp.PublisherConfig{})
//	err = pub.PublishEvent(ctx, "orders", shared.NewBaseEvent("o-1", "order.created", order))
//
//	sub, _ := client.NewConsumer(amqp.ConsumerConfig{Queue: "billing", Retry: amqp.RetryPolicy{MaxAttempts: 4}})
//	err = sub.StartEvents(ctx, shared.NewBaseListener("billing", bill))
package amqp
