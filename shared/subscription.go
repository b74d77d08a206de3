package shared

import (
	"strconv"
	"sync"
	"sync/atomic"
)

// Subscription is a listener's registration with an emitter or a bus.
// Unsubscribe removes exactly this registration: other subscriptions of the
// same listener stay. It is safe to call from any goroutine, more than once,
// and from inside the listener itself.
type Subscription interface {
	// ID is unique among the subscriptions of one process.
	ID() string
	// Topic is the event type, pattern or topic subscribed to.
	Topic() string
	// Listener is the subscribed listener.
	Listener() Listener
	// Active reports whether the subscription still receives events.
	Active() bool
	// Unsubscribe stops delivery to this subscription. Events already being
	// handled finish. Calling it again returns nil.
	Unsubscribe() error
}

var subscriptionSeq atomic.Uint64

// NextSubscriptionID returns a process-unique subscription ID ("sub-1", "sub-2"…).
func NextSubscriptionID() string {
	return "sub-" + strconv.FormatUint(subscriptionSeq.Add(1), 10)
}

// BaseSubscription is the Subscription that Nova's components hand out. Its
// remove function runs once, on the first Unsubscribe.
type BaseSubscription struct {
	id       string
	topic    string
	listener Listener
	active   atomic.Bool
	once     sync.Once
	remove   func() error
	err      error
	failed   error // why it never became active: see FailedSubscription
}

// FailedSubscription is what the seed-shaped Subscribe calls return when
// subscribing failed (a nil listener, an unknown topic, a closed
// component): a subscription that is not Active, whose Err returns err at
// once and whose Unsubscribe returns err too.
func FailedSubscription(topic string, l Listener, err error) *BaseSubscription {
	s := &BaseSubscription{id: NextSubscriptionID(), topic: topic, listener: l, failed: err, err: err}
	s.once.Do(func() {}) // nothing to remove; Unsubscribe returns err
	return s
}

// Err returns why subscribing failed, or nil for a subscription that was
// made (even after Unsubscribe).
func (s *BaseSubscription) Err() error { return s.failed }

// SubscriptionErr returns why s failed to subscribe: Err of a Subscription
// that has one (every Subscription Nova's components return does), nil
// otherwise.
func SubscriptionErr(s Subscription) error {
	if e, ok := s.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

// NewSubscription returns an active subscription whose Unsubscribe calls
// remove once. remove may be nil.
func NewSubscription(id, topic string, l Listener, remove func() error) *BaseSubscription {
	s := &BaseSubscription{id: id, topic: topic, listener: l, remove: remove}
	s.active.Store(true)
	return s
}

// ID returns the subscription ID.
func (s *BaseSubscription) ID() string { return s.id }

// Topic returns what was subscribed to.
func (s *BaseSubscription) Topic() string { return s.topic }

// Listener returns the subscribed listener.
func (s *BaseSubscription) Listener() Listener { return s.listener }

// Active reports whether Unsubscribe has not been called yet.
func (s *BaseSubscription) Active() bool { return s.active.Load() }

// Unsubscribe deactivates the subscription and runs its remove function once;
// later calls return the first call's result.
func (s *BaseSubscription) Unsubscribe() error {
	s.once.Do(func() {
		s.active.Store(false)
		if s.remove != nil {
			s.err = s.remove()
		}
	})
	return s.err
}
