package bus

import "strconv"

// DropReason says why an event was not delivered to a subscriber.
type DropReason int

const (
	// DropBufferFull: Publish refused the event because its partition was
	// full and the topic's Overflow is workerpool.RejectNew.
	DropBufferFull DropReason = iota
	// DropPublishCanceled: Publish gave up waiting for room because its ctx
	// was done.
	DropPublishCanceled
	// DropNoSubscribers: the topic accepted the event but had no subscriber.
	DropNoSubscribers
	// DropUnsubscribed: the event was waiting for a subscription (or a
	// group's last member) that was removed.
	DropUnsubscribed
	// DropTopicDeleted: the event was waiting in a topic that was deleted.
	DropTopicDeleted
	// DropShutdown: Shutdown ran out of time before the event was settled.
	DropShutdown
	// DropDeadLetterOverflow is no longer reported by the bus: dead
	// letters live in the listener manager's store, and one its handler's
	// full queue could not take is counted there
	// (listener.Stats.DeadLetterHandlerOverflow). The value is kept so that
	// the others keep theirs.
	DropDeadLetterOverflow
	// DropMalformed: the broker handed a subscriber a message that Publish
	// would not have accepted (a nil event, an empty ID or type). The bus
	// acknowledges it without calling any handler. The in-memory broker
	// only holds what Publish accepted, so this concerns other brokers.
	DropMalformed

	numDropReasons
)

var dropNames = [numDropReasons]string{
	"buffer_full", "publish_canceled", "no_subscribers", "unsubscribed",
	"topic_deleted", "shutdown", "dead_letter_overflow", "malformed",
}

// String returns the reason's metric label, such as "buffer_full".
func (r DropReason) String() string {
	if r >= 0 && r < numDropReasons {
		return dropNames[r]
	}
	return "DropReason(" + strconv.Itoa(int(r)) + ")"
}

// Stats is a snapshot of a bus's counters. Counts of deliveries are per
// subscriber: an event published to a topic with three subscribers is
// published once and delivered three times.
type Stats struct {
	// Published counts the events Publish accepted.
	Published uint64
	// Delivered counts first attempts: an event reaching one subscriber.
	Delivered uint64
	// Processed counts deliveries handled successfully.
	Processed uint64
	// Failed counts failed attempts (errors, panics, timeouts).
	Failed uint64
	// Retried counts retries scheduled.
	Retried uint64
	// DeadLettered counts deliveries given up on.
	DeadLettered uint64
	// DuplicatesSuppressed counts ExactlyOnce deliveries skipped because the
	// subscriber had handled (or was handling) the same event ID.
	DuplicatesSuppressed uint64
	// Expired counts deliveries dead-lettered because they waited longer
	// than their topic's Retention (they are in DeadLettered too).
	Expired uint64
	// Dropped counts events not delivered, by reason; every reason has an
	// entry.
	Dropped map[DropReason]uint64
	// Topics is the number of existing topics.
	Topics int
	// Subscribers is the number of active subscriptions (Subscribe,
	// SubscribePattern and SubscribeGroup calls not yet undone).
	Subscribers int
	// TopicStats has one entry per existing topic.
	TopicStats map[string]TopicStats
}

// TotalDropped is the sum of Dropped.
func (s Stats) TotalDropped() uint64 {
	var n uint64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// TopicStats is one topic's part of Stats.
type TopicStats struct {
	DeliveryMode DeliveryMode
	// QueueDepth has, per partition, the events not yet settled by every
	// subscriber.
	QueueDepth []int
	// Consumers is the number of subscribers: plain subscriptions and
	// consumer groups, each group counting once.
	Consumers int

	Published, Delivered, Processed, Failed, Retried, DeadLettered, DuplicatesSuppressed, Expired uint64
}

func (s *TopicStats) add(o TopicStats) {
	s.Published += o.Published
	s.Delivered += o.Delivered
	s.Processed += o.Processed
	s.Failed += o.Failed
	s.Retried += o.Retried
	s.DeadLettered += o.DeadLettered
	s.DuplicatesSuppressed += o.DuplicatesSuppressed
	s.Expired += o.Expired
}

// retiredStats keeps the counts of what no longer exists: removed lanes and
// deleted topics. A removed lane stays in lanes only while a drainer of it
// is still running (finishing an attempt, which it may still count); the
// one that leaves last folds the lane's counters into counters and the bus
// forgets the lane, so that neither it nor the partition it read is kept
// alive. Its fields are guarded by Bus.mu.
type retiredStats struct {
	published uint64
	counters  counters
	lanes     map[*lane]struct{} // closed, a drainer still running
}

// retireLocked takes over the counts of ln, just closed because its
// consumer was removed. Called with b.mu held.
func (b *Bus) retireLocked(ln *lane) {
	if b.retired.lanes == nil {
		b.retired.lanes = map[*lane]struct{}{}
	}
	b.retired.lanes[ln] = struct{}{}
	// Set retiring before reading slots: a drainer releases its slot
	// before it reads retiring, so one of the two sees the other and the
	// lane is folded once its last drainer is gone.
	ln.retiring.Store(true)
	b.foldLocked(ln)
}

// foldRetired is foldLocked for a drainer that has just left ln.
func (b *Bus) foldRetired(ln *lane) {
	b.mu.Lock()
	b.foldLocked(ln)
	b.mu.Unlock()
}

// foldLocked moves ln's counters into the retired totals (and its topic's,
// if the topic still exists) and forgets ln, once no drainer is running it.
// A closed lane counts nothing more after that: a drainer started later
// finds it closed and takes nothing. Called with b.mu held.
func (b *Bus) foldLocked(ln *lane) {
	if _, ok := b.retired.lanes[ln]; !ok || ln.slots.Taken() != 0 {
		return
	}
	delete(b.retired.lanes, ln)
	b.retired.counters.absorb(&ln.cnt)
	if !ln.t.deleted.Load() {
		ln.t.retired.absorb(&ln.cnt)
	}
}

// Stats returns a snapshot of the counters. It costs a lock and a walk over
// every topic's partitions and lanes.
func (b *Bus) Stats() Stats {
	if b.ready() != nil {
		return Stats{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Stats{
		Published:   b.retired.published + b.latePublished.Load(),
		Dropped:     make(map[DropReason]uint64, numDropReasons),
		Subscribers: len(b.specs),
		TopicStats:  map[string]TopicStats{},
	}
	// Bus totals: lanes folded in, closed lanes still finishing, live lanes.
	var total TopicStats
	b.retired.counters.addTo(&total)
	for ln := range b.retired.lanes {
		ln.cnt.addTo(&total)
	}
	for name, t := range *b.topics.Load() {
		var live TopicStats
		for _, c := range t.consumers {
			for _, ln := range c.lanes {
				ln.cnt.addTo(&live)
			}
		}
		total.add(live)

		ts := live
		ts.DeliveryMode = t.cfg.DeliveryMode
		ts.Consumers = len(t.consumers)
		ts.QueueDepth = make([]int, len(t.parts))
		for i := range t.parts {
			ts.QueueDepth[i] = t.parts[i].p.Depth()
			ts.Published += t.parts[i].published.Load()
		}
		s.Published += ts.Published
		t.retired.addTo(&ts)
		for ln := range b.retired.lanes {
			if ln.t == t {
				ln.cnt.addTo(&ts)
			}
		}
		s.TopicStats[name] = ts
	}
	s.Topics = len(s.TopicStats)
	s.Delivered, s.Processed, s.Failed = total.Delivered, total.Processed, total.Failed
	s.Retried, s.DeadLettered, s.DuplicatesSuppressed, s.Expired = total.Retried, total.DeadLettered, total.DuplicatesSuppressed, total.Expired
	for r := range numDropReasons {
		s.Dropped[r] = b.drops[r].Load()
	}
	return s
}
