package bus

import (
	"fmt"
	"slices"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// spec is one Subscribe call: what it matches and who handles.
type spec struct {
	target   string // topic name or pattern
	pattern  bool
	group    string // "" for a plain subscription
	listener shared.Listener
	sub      *shared.BaseSubscription
}

func (sp *spec) matches(topic string) bool {
	if sp.pattern {
		return shared.MatchPattern(sp.target, topic)
	}
	return sp.target == topic
}

// consumerKey names sp's consumer within a topic: its group, or itself.
func (sp *spec) consumerKey() string {
	if sp.group != "" {
		return "group:" + sp.group
	}
	return "sub:" + sp.sub.ID()
}

// Subscribe adds l as a subscriber of topic: l receives every event
// published to it (fan-out), in key order, under the topic's delivery mode.
// A topic containing wildcards ("orders.*", "orders.>") subscribes to every
// matching topic, as SubscribePattern does. The returned Subscription's
// Unsubscribe removes exactly this subscription, even when l is subscribed
// more than once.
//
// Subscribing to a topic that does not exist returns ErrTopicNotFound,
// unless Config.AutoCreateTopics is set: then the subscription waits for the
// topic, and a later CreateTopic (or an auto-creating Publish) attaches it.
// A subscriber receives the events published after it subscribed.
//
// The shape is the seeds'. When subscribing fails (a nil listener, an empty
// listener ID, an unknown topic, a closed bus) it returns a Subscription
// that is not Active and whose Err (shared.SubscriptionErr) and Unsubscribe
// return the error; SubscribeE returns the error directly.
func (b *Bus) Subscribe(topic string, l shared.Listener) shared.Subscription {
	sub, err := b.SubscribeE(topic, l)
	if err != nil {
		return shared.FailedSubscription(topic, l, err)
	}
	return sub
}

// SubscribeE is Subscribe with the error returned.
func (b *Bus) SubscribeE(topic string, l shared.Listener) (shared.Subscription, error) {
	if shared.IsPattern(topic) {
		return b.SubscribePattern(topic, l)
	}
	return b.subscribe(&spec{target: topic, listener: l})
}

// SubscribePattern subscribes l to every topic whose name matches pattern,
// now and created later, with the emitter's wildcard syntax (tokens split by
// '.', '*' one token, '>' one or more at the end; see shared.MatchPattern).
// Each matching topic delivers to l as to a separate subscriber.
func (b *Bus) SubscribePattern(pattern string, l shared.Listener) (shared.Subscription, error) {
	if err := shared.ValidatePattern(pattern); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSubscription, err)
	}
	return b.subscribe(&spec{target: pattern, pattern: true, listener: l})
}

// SubscribeGroup adds l as a member of consumer group group on topic. The
// group as a whole is one subscriber: each event reaches exactly one member
// (round robin, retries possibly to another member), with the topic's
// ordering and delivery mode. Members may join and leave at any time; the
// group's position is kept while it has at least one member, so nothing is
// lost or handled twice. When the last member leaves, the group goes and
// what it had not handled is dropped (DropUnsubscribed). Topics that do not
// exist are handled as in Subscribe.
func (b *Bus) SubscribeGroup(topic, group string, l shared.Listener) (shared.Subscription, error) {
	if group == "" {
		return nil, fmt.Errorf("%w: empty group name", ErrInvalidSubscription)
	}
	if shared.IsPattern(topic) {
		if err := shared.ValidatePattern(topic); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidSubscription, err)
		}
		return b.subscribe(&spec{target: topic, pattern: true, group: group, listener: l})
	}
	return b.subscribe(&spec{target: topic, group: group, listener: l})
}

func (b *Bus) subscribe(sp *spec) (shared.Subscription, error) {
	if err := b.ready(); err != nil {
		return nil, err
	}
	if err := shared.ValidateListener(sp.listener); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSubscription, err)
	}
	if !sp.pattern {
		if err := validTopicName(sp.target); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return nil, ErrClosed
	}
	if !sp.pattern && !b.cfg.AutoCreateTopics && b.lookup(sp.target) == nil {
		return nil, &TopicError{Topic: sp.target, Err: ErrTopicNotFound}
	}
	sp.sub = shared.NewSubscription(shared.NextSubscriptionID(), sp.target, sp.listener, func() error {
		b.unsubscribe(sp)
		return nil
	})
	var attached []*topic
	for _, t := range *b.topics.Load() {
		if !sp.matches(t.name) {
			continue
		}
		if err := b.attachLocked(t, sp); err != nil {
			for _, a := range attached {
				b.detachLocked(a, sp, DropUnsubscribed)
			}
			return nil, err
		}
		attached = append(attached, t)
	}
	b.specs = append(b.specs, sp)
	return sp.sub, nil
}

func (b *Bus) unsubscribe(sp *spec) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.specs = slices.DeleteFunc(b.specs, func(x *spec) bool { return x == sp })
	for _, t := range *b.topics.Load() {
		if sp.matches(t.name) {
			b.detachLocked(t, sp, DropUnsubscribed)
		}
	}
}

// attachLocked makes sp a subscriber of t: a new consumer, or a new member
// of its group's consumer.
func (b *Bus) attachLocked(t *topic, sp *spec) error {
	key := sp.consumerKey()
	rt, err := b.route(t, sp)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSubscription, err)
	}
	mb := &member{sp: sp, rt: rt}
	if c := t.consumers[key]; c != nil {
		ms := append(slices.Clone(*c.members.Load()), mb)
		c.members.Store(&ms)
		return nil
	}
	c, err := b.newConsumer(t, key, mb)
	if err != nil {
		return err
	}
	t.consumers[key] = c
	return nil
}

// newConsumer makes sp's consumer on t, with sp as its first member before
// any message can reach it.
func (b *Bus) newConsumer(t *topic, key string, mb *member) (*consumer, error) {
	c := &consumer{t: t, name: key, group: mb.sp.group, scope: t.name + "\x00" + key}
	first := []*member{mb}
	c.members.Store(&first)
	c.lanes = make([]*lane, len(t.parts))
	for i := range t.parts {
		ln := newLane(b, c)
		cur, err := t.parts[i].p.Attach(key, ln.notifyFn)
		if err != nil {
			for _, prev := range c.lanes[:i] {
				prev.close(DropUnsubscribed, false)
				b.retireLocked(prev)
			}
			return nil, fmt.Errorf("bus: attaching %s to partition %d of %q: %w", key, i, t.name, err)
		}
		ln.mu.Lock()
		ln.cur = cur
		ln.mu.Unlock()
		c.lanes[i] = ln
		// A message may have arrived between Attach and now, and its
		// notification found no cursor: look once.
		ln.wake(workerpool.PriorityNormal)
	}
	return c, nil
}

// detachLocked removes sp from t; a consumer left without members goes.
func (b *Bus) detachLocked(t *topic, sp *spec, reason DropReason) {
	key := sp.consumerKey()
	c := t.consumers[key]
	if c == nil {
		return
	}
	ms := slices.DeleteFunc(slices.Clone(*c.members.Load()), func(x *member) bool { return x.sp == sp })
	c.members.Store(&ms)
	if len(ms) == 0 {
		b.removeConsumerLocked(t, key, c, reason)
	}
}

func (b *Bus) removeConsumerLocked(t *topic, key string, c *consumer, reason DropReason) {
	delete(t.consumers, key)
	for _, ln := range c.lanes {
		ln.close(reason, false)
		b.retireLocked(ln)
	}
}
