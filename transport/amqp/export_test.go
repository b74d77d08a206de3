package amqp

import (
	"context"
	"time"
)

// StopRequested returns a channel closed once Stop has begun.
func StopRequested(k *Consumer) <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stopping
}

// HoldSends makes p's workers call hold before each send; hold gets a
// channel closed when the publisher stops. Call it before publishing.
func HoldSends(p *Publisher, hold func(stop <-chan struct{})) {
	p.hooks.Store(&testHooks{beforeSend: hold})
}

// Resolver exposes the receipt line for unit tests.
type Resolver struct{ rs *resolver }

func NewResolver(timeout time.Duration) *Resolver { return &Resolver{newResolver(timeout, nil)} }

// Add starts a receipt.
func (r *Resolver) Add() *Receipt {
	rc := &Receipt{done: make(chan struct{})}
	r.rs.add(rc)
	return rc
}

// Confirm and Fail settle a receipt; they report whether this call did.
func (r *Resolver) Confirm(rc *Receipt) bool { return r.rs.settle(rc, PublishResult{Attempts: 1}, nil) }
func (r *Resolver) Fail(rc *Receipt, err error) bool {
	return r.rs.settle(rc, PublishResult{}, rc.failure(err))
}

// Reap enforces deadlines until stop closes.
func (r *Resolver) Reap(stop <-chan struct{}) { r.rs.reap(stop) }

// FailAll settles every pending receipt with err.
func (r *Resolver) FailAll(err error) { r.rs.settleAll(err) }

// Notifier exposes the state-change dispatcher for unit tests.
type Notifier struct{ n *notifier }

func NewNotifier(fn func(StateChange), size int) *Notifier { return &Notifier{newNotifier(fn, size)} }
func (n *Notifier) Notify(sc StateChange)                  { n.n.notify(sc) }
func (n *Notifier) Dropped() uint64                        { return n.n.dropped.Load() }
func (n *Notifier) Stop() <-chan struct{}                  { n.n.stop(); return n.n.done }

// HoldConfirms makes p's workers call sent after each send and hold
// before awaiting each confirm.
func HoldConfirms(p *Publisher, sent, hold func(stop <-chan struct{})) {
	p.hooks.Store(&testHooks{afterSend: sent, beforeAwait: hold})
}

// OnHealthCheck makes c call fn after each health sweep.
func OnHealthCheck(c *Client, fn func()) { c.healthHook.Store(&fn) }

// BreakIdleChannels makes the broker close every idle pooled channel of c,
// by asking each for a queue that does not exist, and reports how many it
// broke. The pool is not told.
func BreakIdleChannels(c *Client) int {
	var idle []*pooledChannel
	for _, s := range c.slots {
		s.mu.Lock()
		idle = append(idle, s.idle...)
		s.mu.Unlock()
	}
	for _, pc := range idle {
		_, _ = pc.ch.QueueDeclarePassive("nova-test-no-such-queue", false, false, false, false, nil)
	}
	return len(idle)
}

// RecordedTopology is what c declares on a new connection now.
func RecordedTopology(c *Client) Topology { return c.topologySnapshot() }

// ConsumerConnection is the index of the pooled connection k consumes on.
func ConsumerConnection(k *Consumer) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.slot.idx
}

// Borrow borrows a pooled channel of c's first connection and returns the
// function that gives it back.
func Borrow(ctx context.Context, c *Client) (release func(), err error) {
	pc, err := c.slots[0].borrow(ctx)
	if err != nil {
		return nil, err
	}
	return pc.release, nil
}

// Inflate exposes the consumer's gzip inflation.
func Inflate(body []byte, limit int) ([]byte, error) { return inflate(body, limit) }
