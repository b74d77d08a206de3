package bus

import (
	"context"
	"errors"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// AsyncPartition is a Partition whose appends can complete after the call:
// a remote broker waiting for its server's confirm. The bus detects it in
// PublishAsync; Publish keeps calling Append.
type AsyncPartition interface {
	Partition
	// AppendAsync starts appending m and returns once m is accepted for
	// sending, waiting for room as Append does (wait, ctx). done is called
	// exactly once, on any goroutine, with what Append would have
	// returned; it must not block. An error returned by AppendAsync itself
	// means m was not accepted, and done is not called. Appends of one
	// partition complete in call order.
	AppendAsync(ctx context.Context, m Message, wait bool, done func(consumers int, err error)) error
}

// PublishReceipt is the future result of PublishAsync. It is safe for
// concurrent use.
type PublishReceipt struct {
	done chan struct{}
	err  error
}

// Done is closed once the publish is settled: accepted by the broker (for
// a remote broker, confirmed) or refused.
func (r *PublishReceipt) Done() <-chan struct{} { return r.done }

// Err returns nil until Done is closed, then the publish's error: what
// Publish would have returned.
func (r *PublishReceipt) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// Wait waits for the receipt and returns its error, or ctx.Err() if ctx
// ends first (the publish carries on).
func (r *PublishReceipt) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PublishAsync is Publish without waiting for the broker: it returns once
// the event is on its way, with a receipt that settles as Publish would
// have returned. On a broker whose partitions are AsyncPartitions (the
// RabbitMQ broker, where Publish waits for the broker's confirm) one
// goroutine can keep many publishes in flight; events of one ordering key
// keep their publish order. On the in-memory broker it is Publish with a
// receipt already settled. ctx bounds only the wait for room. The error
// returned directly is one Publish would have returned before anything
// was sent (invalid event, unknown topic, closed bus, no room); the
// receipt is nil then.
func (b *Bus) PublishAsync(ctx context.Context, topicName string, e shared.Event) (*PublishReceipt, error) {
	if err := shared.Validate(e); err != nil {
		b.reportEmitted("", err)
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	t, err := b.publishTarget(topicName)
	if err != nil {
		b.reportEmitted(e.Type(), err)
		return nil, err
	}
	pr, m, err := t.place(e)
	if err != nil {
		b.reportEmitted(e.Type(), err)
		return nil, err
	}
	r := &PublishReceipt{done: make(chan struct{})}
	ap, ok := pr.p.(AsyncPartition)
	if !ok {
		n, err := pr.p.Append(ctx, m, t.cfg.Overflow == workerpool.Block)
		if err = t.appended(pr, n, err); err != nil {
			b.reportEmitted(e.Type(), err)
			return nil, err
		}
		b.reportEmitted(e.Type(), nil)
		close(r.done)
		return r, nil
	}
	typ := e.Type()
	err = ap.AppendAsync(ctx, m, t.cfg.Overflow == workerpool.Block, func(n int, err error) {
		r.err = t.appended(pr, n, err)
		b.reportEmitted(typ, r.err)
		close(r.done)
	})
	if err != nil {
		err = t.appended(pr, 0, err)
		b.reportEmitted(typ, err)
		return nil, err
	}
	return r, nil
}

// publishTarget returns the topic Publish would publish to.
func (b *Bus) publishTarget(topicName string) (*topic, error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	t := b.lookup(topicName)
	if t == nil {
		if err := b.ready(); err != nil {
			return nil, err
		}
		if !b.cfg.AutoCreateTopics {
			return nil, &TopicError{Topic: topicName, Err: ErrTopicNotFound}
		}
		var err error
		if t, err = b.createTopic(topicName, b.cfg.TopicDefaults, true); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (b *Bus) reportEmitted(typ string, err error) {
	if b.metrics != nil {
		if err != nil && errors.Is(err, ErrInvalidEvent) {
			typ = ""
		}
		b.metrics.EventEmitted(b.name, typ, err)
	}
}
