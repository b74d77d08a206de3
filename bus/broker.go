package bus

import (
	"context"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// Broker is the seam between the bus and where a topic's events are kept.
// Nova has two implementations: the in-memory one, NewMemoryBroker (the
// default), which keeps them in bounded in-process rings, and the RabbitMQ
// one in package transport/amqp (amqp.Broker), which takes the bus across
// processes. Both implement the same three interfaces, so that the bus's
// ordering, retries, deduplication, consumer groups and statistics work
// unchanged on top of them. A broker whose appends complete later (a
// server's confirm) may also implement AsyncPartition, which PublishAsync
// uses.
//
// The bus validates the messages such a broker hands it: a Message whose
// Event Publish would have refused (nil, an empty ID or type) is
// acknowledged and counted as DropMalformed without reaching a handler,
// and an invalid Priority is read as workerpool.PriorityNormal.
//
// The division of labour: the broker stores messages per partition, hands
// each consumer (a subscription or a consumer group) its own stream of them,
// and keeps every message until that consumer settles it with Ack. The bus
// decides everything else: which partition, in what order keys run, when to
// retry (the broker keeps the message unacknowledged meanwhile) and when to
// give up. Nack hands a message back to be delivered again, which the bus
// does with what it still holds when Shutdown runs out of time.
//
// Package brokertest is the conformance suite an implementation runs.
type Broker interface {
	// OpenPartition returns partition index (0-based) of topic, created if
	// needed, holding at most capacity messages that some consumer has not
	// settled. The bus calls it once per partition in CreateTopic.
	OpenPartition(topic string, index, capacity int) (Partition, error)
}

// Message is one event in a partition, as a consumer receives it.
type Message struct {
	// Seq identifies the message within its partition and consumer; Ack and
	// Nack take it. The broker assigns it.
	Seq uint64
	// Event is the published event.
	Event shared.Event
	// Key is the ordering key ("" for none).
	Key string
	// Priority is the pool lane the event asks for.
	Priority workerpool.Priority
	// Accepted is when Publish accepted the event; it is set only for topics
	// with a Retention.
	Accepted time.Time
}

// Partition is one ordered stream of a topic. Its methods are safe for
// concurrent use.
type Partition interface {
	// Append adds m (its Seq is ignored) after every message appended
	// before. When the partition is full it waits for room until ctx is done
	// if wait is true (returning ctx.Err()), or returns ErrBufferFull at
	// once. After Close it returns ErrClosed. It reports how many
	// consumers will receive the message: 0 means nobody was attached.
	Append(ctx context.Context, m Message, wait bool) (consumers int, err error)
	// Attach adds a consumer that receives every message appended from now
	// on. name identifies it: a consumer group's name is stable, so a
	// durable broker can share its stream between processes; a plain
	// subscription's name is unique. notify is called for every message
	// for this consumer once Next can return it, on any goroutine (the
	// in-memory broker calls it on the appending one); it must not block.
	Attach(name string, notify func(Message)) (Cursor, error)
	// Depth is the number of messages appended and not yet settled by every
	// consumer.
	Depth() int
	// Close stops Append from accepting (it returns ErrClosed from then
	// on, including to callers waiting for room). Consumers keep reading and
	// settling what is there. Closing twice is harmless.
	Close()
	// Drained is closed once the partition is closed and every consumer has
	// settled everything it received (or detached).
	Drained() <-chan struct{}
}

// Cursor is one consumer's position in a partition. The bus calls its
// methods under the consumer's lock: an implementation need not make Next,
// Ack, Nack and Backlog safe against each other, only against Append and
// Detach.
type Cursor interface {
	// Next returns the next message for this consumer: one handed back by
	// Nack first, then the oldest not yet returned. ok is false when there
	// is none (notify will be called when one arrives).
	Next() (m Message, ok bool)
	// Backlog is the number of messages Next would still return.
	Backlog() int
	// Ack settles a message returned by Next: the consumer is done with it.
	// Unknown or already settled sequence numbers are ignored.
	Ack(seq uint64)
	// Nack hands an unsettled message back, to be returned by Next again.
	Nack(seq uint64)
	// Detach removes the consumer: what it has not settled no longer holds
	// room in the partition. Later calls to any method are harmless no-ops.
	Detach()
}
