package amqp

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Table is an AMQP field table: header and argument values of any AMQP type
// (strings, integers of every width, floats, booleans, decimals, byte
// slices, timestamps, nested tables and arrays).
type Table = amqp091.Table

// QueueType selects RabbitMQ's queue implementation.
type QueueType uint8

const (
	// Classic is RabbitMQ's default queue type.
	Classic QueueType = iota
	// Quorum is the replicated, durable queue type; it counts deliveries and
	// can dead-letter a message redelivered too often (Queue.DeliveryLimit).
	Quorum
)

func (q QueueType) String() string {
	switch q {
	case Classic:
		return "classic"
	case Quorum:
		return "quorum"
	}
	return fmt.Sprintf("QueueType(%d)", uint8(q))
}

// Exchange describes an exchange to declare. Exchanges are durable unless
// Transient is set.
type Exchange struct {
	Name string
	// Kind is "direct", "fanout", "topic" or "headers". Default "topic".
	Kind       string
	Transient  bool
	AutoDelete bool
	Internal   bool
	Args       Table
}

// Queue describes a queue to declare. Queues are durable unless Transient is
// set.
type Queue struct {
	Name       string
	Type       QueueType
	Transient  bool
	AutoDelete bool
	// Exclusive queues belong to the connection that declared them and
	// vanish with it. The Client declares them on its first pooled
	// connection only (again after each of its reconnections), and consumers
	// of an exclusive queue always use that connection.
	Exclusive bool
	// DeadLetterExchange receives messages the broker dead-letters
	// (x-dead-letter-exchange): expired, over the length limit, or rejected
	// without requeue.
	DeadLetterExchange   string
	DeadLetterRoutingKey string
	// MessageTTL expires messages after this long (x-message-ttl).
	MessageTTL time.Duration
	// MaxLength bounds the queue (x-max-length); 0 means unbounded.
	MaxLength int
	// RejectPublishWhenFull makes a full queue nack publishes
	// (x-overflow=reject-publish) instead of dropping its oldest message.
	RejectPublishWhenFull bool
	// DeliveryLimit (quorum queues) dead-letters a message after this many
	// redeliveries (x-delivery-limit): protection against messages that
	// crash the consuming process before it can count a failure.
	DeliveryLimit int
	// Args are passed as they are, after the fields above.
	Args Table
}

// Binding binds a queue to an exchange with a routing key (a pattern for
// topic exchanges).
type Binding struct {
	Queue    string
	Exchange string
	Key      string
	Args     Table
}

// Topology is a set of exchanges, queues and bindings. Declaring it is
// idempotent as long as each item's settings do not change.
type Topology struct {
	Exchanges []Exchange
	Queues    []Queue
	Bindings  []Binding
}

func (t Topology) validate() error {
	for _, e := range t.Exchanges {
		if e.Name == "" {
			return configErrorf("Topology", "exchange with an empty name")
		}
	}
	for _, q := range t.Queues {
		switch {
		case q.Name == "":
			return configErrorf("Topology", "queue with an empty name (server-named queues are not re-declarable)")
		case q.Type == Quorum && (q.Transient || q.Exclusive || q.AutoDelete):
			return configErrorf("Topology", "quorum queue %q must be durable, not exclusive, not auto-delete", q.Name)
		case q.Type > Quorum:
			return configErrorf("Topology", "queue %q has unknown type %v", q.Name, q.Type)
		case q.MaxLength < 0 || q.DeliveryLimit < 0 || q.MessageTTL < 0:
			return configErrorf("Topology", "queue %q has a negative limit", q.Name)
		}
	}
	for _, b := range t.Bindings {
		if b.Queue == "" || b.Exchange == "" {
			return configErrorf("Topology", "binding needs a queue and an exchange")
		}
	}
	return nil
}

// clone returns a copy of t that shares no slice with it, so that adding to
// one never writes into the other's backing arrays.
func (t Topology) clone() Topology {
	return Topology{
		Exchanges: slices.Clone(t.Exchanges),
		Queues:    slices.Clone(t.Queues),
		Bindings:  slices.Clone(t.Bindings),
	}
}

// add appends to t what o has and t does not: exchanges and queues are
// known by name, bindings by queue, exchange, key and arguments. The caller
// owns t's slices.
func (t *Topology) add(o Topology) {
	for _, e := range o.Exchanges {
		if !slices.ContainsFunc(t.Exchanges, func(x Exchange) bool { return x.Name == e.Name }) {
			t.Exchanges = append(t.Exchanges, e)
		}
	}
	for _, q := range o.Queues {
		if !slices.ContainsFunc(t.Queues, func(x Queue) bool { return x.Name == q.Name }) {
			t.Queues = append(t.Queues, q)
		}
	}
	for _, b := range o.Bindings {
		if !slices.ContainsFunc(t.Bindings, b.same) {
			t.Bindings = append(t.Bindings, b)
		}
	}
}

func (b Binding) same(o Binding) bool {
	return b.Queue == o.Queue && b.Exchange == o.Exchange && b.Key == o.Key && reflect.DeepEqual(b.Args, o.Args)
}

// exclusive reports whether t declares queue as an exclusive queue.
func (t Topology) exclusive(queue string) bool {
	return slices.ContainsFunc(t.Queues, func(q Queue) bool { return q.Exclusive && q.Name == queue })
}

// withoutExclusive returns t minus its exclusive queues and the bindings to
// them: what connections other than the first declare. An exclusive queue
// belongs to the connection that declared it; any other connection that
// declares or binds it is refused with RESOURCE_LOCKED.
func (t Topology) withoutExclusive() Topology {
	var names []string
	for _, q := range t.Queues {
		if q.Exclusive {
			names = append(names, q.Name)
		}
	}
	if len(names) == 0 {
		return t
	}
	return t.without(names, nil)
}

func (t Topology) empty() bool {
	return len(t.Exchanges)+len(t.Queues)+len(t.Bindings) == 0
}

// arguments builds the x-arguments of a queue.
func (q Queue) arguments() Table {
	args := Table{}
	if q.Type == Quorum {
		args["x-queue-type"] = "quorum"
	}
	if q.DeadLetterExchange != "" {
		args["x-dead-letter-exchange"] = q.DeadLetterExchange
	}
	if q.DeadLetterRoutingKey != "" {
		args["x-dead-letter-routing-key"] = q.DeadLetterRoutingKey
	}
	if q.MessageTTL > 0 {
		args["x-message-ttl"] = q.MessageTTL.Milliseconds()
	}
	if q.MaxLength > 0 {
		args["x-max-length"] = int64(q.MaxLength)
	}
	if q.RejectPublishWhenFull {
		args["x-overflow"] = "reject-publish"
	}
	if q.DeliveryLimit > 0 {
		args["x-delivery-limit"] = int64(q.DeliveryLimit)
	}
	for k, v := range q.Args {
		args[k] = v
	}
	return args
}

// declare declares everything in order: exchanges, queues, bindings. It
// stops at the first error, which has closed ch.
func (t Topology) declare(ch *amqp091.Channel) error {
	for _, e := range t.Exchanges {
		kind := e.Kind
		if kind == "" {
			kind = "topic"
		}
		if err := ch.ExchangeDeclare(e.Name, kind, !e.Transient, e.AutoDelete, e.Internal, false, e.Args); err != nil {
			return fmt.Errorf("amqp: declare exchange %q: %w", e.Name, err)
		}
	}
	for _, q := range t.Queues {
		if _, err := ch.QueueDeclare(q.Name, !q.Transient, q.AutoDelete, q.Exclusive, false, q.arguments()); err != nil {
			return fmt.Errorf("amqp: declare queue %q: %w", q.Name, err)
		}
	}
	for _, b := range t.Bindings {
		if err := ch.QueueBind(b.Queue, b.Key, b.Exchange, false, b.Args); err != nil {
			return fmt.Errorf("amqp: bind queue %q to %q with %q: %w", b.Queue, b.Exchange, b.Key, err)
		}
	}
	return nil
}

// without returns t minus the named queues and exchanges and the bindings
// that refer to them.
func (t Topology) without(queues, exchanges []string) Topology {
	gone := map[string]bool{}
	for _, q := range queues {
		gone["q:"+q] = true
	}
	for _, e := range exchanges {
		gone["e:"+e] = true
	}
	var out Topology
	for _, e := range t.Exchanges {
		if !gone["e:"+e.Name] {
			out.Exchanges = append(out.Exchanges, e)
		}
	}
	for _, q := range t.Queues {
		if !gone["q:"+q.Name] {
			out.Queues = append(out.Queues, q)
		}
	}
	for _, b := range t.Bindings {
		if !gone["q:"+b.Queue] && !gone["e:"+b.Exchange] {
			out.Bindings = append(out.Bindings, b)
		}
	}
	return out
}
