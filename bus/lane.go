package bus

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/internal/drain"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// consumer is one subscriber of a topic: a plain subscription (one member)
// or a consumer group (any number of members, each event to one of them).
// It reads every partition through its own lane.
type consumer struct {
	t       *topic
	name    string // the broker's consumer name
	group   string // "" for a plain subscription
	scope   string // the idempotency scope: topic and consumer
	members atomic.Pointer[[]*member]
	rr      atomic.Uint32
	lanes   []*lane
}

// pick returns the member that handles the next attempt: round robin over
// the current members, nil if there are none.
func (c *consumer) pick() *member {
	ms := *c.members.Load()
	switch len(ms) {
	case 0:
		return nil
	case 1:
		return ms[0]
	}
	// The modulo is taken in uint32: converted to int first, a counter past
	// 2^31 would be negative on 32-bit platforms.
	return ms[(c.rr.Add(1)-1)%uint32(len(ms))]
}

// job is one event on its way through a lane, with its attempts so far.
type job struct {
	m         Message
	attempts  int
	delivered bool // counted in Delivered
	claimed   bool // ExactlyOnce: the idempotency claim is held
}

// lane is one consumer's view of one partition: it fetches messages from
// the partition's cursor and runs them, at most MaxConcurrency at once,
// never two of one ordering key at once, each key in partition order.
//
// Drainer tasks do the work. A lane has between 0 and MaxConcurrency of
// them, counted by slots; one is submitted to the pool when a message
// arrives and fewer are running, and each handles events until it finds
// nothing runnable or has handled drainBatch (then it submits itself again
// and returns its worker to the pool).
//
// Messages whose key is busy (an earlier message of the key is running or
// waiting to be retried) wait in that key's queue and move to ready when the
// earlier one settles; retries that are due also go to ready. ready is
// served before the cursor. Everything a lane holds is also unacknowledged
// in its partition, so the partition's capacity bounds it.
type lane struct {
	b     *Bus
	c     *consumer
	t     *topic
	track bool // MaxConcurrency > 1: every running key is in keys

	slots drain.Slots // drainer tasks submitted or running, at most MaxConcurrency

	mu       sync.Mutex
	cur      Cursor
	ready    jobQueue
	keys     map[string]*keyState // keys that are busy, with their waiting messages
	spare    []*keyState          // recycled keyStates
	retrying int                  // messages waiting for their retry delay
	closed   bool
	reason   DropReason // why the lane was closed
	// malformed counts the messages from the broker that takeLocked refused
	// and acknowledged; its callers report them once the lock is released.
	malformed int

	// retiring is set once the lane's consumer is gone and the lane is in
	// the bus's retired set: the drainer that brings slots to 0 folds the
	// lane's counters into the bus's (see Bus.retireLocked).
	retiring atomic.Bool

	drainFn  func()
	notifyFn func(Message)

	cnt counters
}

// keyState is a busy ordering key: one of its messages is running or
// waiting to be retried, and later ones wait here.
type keyState struct {
	waiting jobQueue
}

func newLane(b *Bus, c *consumer) *lane {
	ln := &lane{b: b, c: c, t: c.t, keys: map[string]*keyState{}}
	ln.slots.Max = int32(c.t.cfg.MaxConcurrency)
	ln.track = ln.slots.Max > 1
	ln.drainFn = ln.drain
	ln.notifyFn = ln.notify
	return ln
}

// notify is the partition's callback for a new message.
func (ln *lane) notify(m Message) {
	pr := m.Priority
	if !pr.Valid() { // a broker's message: see takeLocked
		pr = workerpool.PriorityNormal
	}
	ln.wake(pr)
}

// wake submits a drainer if fewer than max are running.
func (ln *lane) wake(pr workerpool.Priority) {
	if ln.slots.TryAcquire() {
		ln.b.submit(ln, pr)
	}
}

// drain is the drainer task.
func (ln *lane) drain() {
	j, ok := ln.take()
	for n := 1; ; n++ {
		if !ok {
			if h := ln.b.testDrainIdle; h != nil {
				h()
			}
			if ln.release() {
				return // the lane is closed: nothing more to take
			}
			// A message or retry may have arrived after take looked and
			// before the decrement, and its wake may have seen us running:
			// look again, and carry on if we can take a slot back.
			if !ln.hasWork() || !ln.slots.TryAcquire() {
				return
			}
			j, ok = ln.take()
			continue
		}
		finished := ln.process(j)
		if n >= drainBatch {
			if finished {
				ln.settle(j.m)
			}
			ln.b.submit(ln, j.m.Priority) // keep the slot, give the worker back
			return
		}
		if finished {
			j, ok = ln.settleAndTake(j.m)
		} else {
			j, ok = ln.take()
		}
	}
}

// release gives back a drainer's slot. When the lane is retiring and that
// was its last drainer, the lane's counters are folded into the bus's and
// the bus lets go of the lane. It reports whether the lane is retiring.
func (ln *lane) release() bool {
	ln.slots.Release()
	if !ln.retiring.Load() {
		return false
	}
	ln.b.foldRetired(ln)
	return true
}

// take returns the next runnable job: a ready one first, then the cursor's
// next message whose key is not busy. Messages of busy keys are parked.
func (ln *lane) take() (job, bool) {
	ln.mu.Lock()
	j, ok := ln.takeLocked()
	bad := ln.malformed
	ln.malformed = 0
	ln.mu.Unlock()
	if bad > 0 {
		ln.reportMalformed(bad)
	}
	return j, ok
}

// settleAndTake is settle and take under one lock.
func (ln *lane) settleAndTake(m Message) (job, bool) {
	ln.mu.Lock()
	ln.settleLocked(m)
	j, ok := ln.takeLocked()
	bad := ln.malformed
	ln.malformed = 0
	ln.mu.Unlock()
	if bad > 0 {
		ln.reportMalformed(bad)
	}
	return j, ok
}

func (ln *lane) takeLocked() (job, bool) {
	if ln.closed || ln.cur == nil {
		return job{}, false
	}
	if ln.ready.len() > 0 {
		return ln.ready.pop(), true
	}
	for {
		m, ok := ln.cur.Next()
		if !ok {
			return job{}, false
		}
		if ln.b.checkMessages {
			// A broker other than the in-memory one may hand over what
			// Publish never accepted (a nil or invalid event, a lost
			// priority): settle it at once and count it, rather than let
			// it reach the handlers.
			if shared.Validate(m.Event) != nil {
				ln.cur.Ack(m.Seq)
				ln.malformed++
				continue
			}
			if !m.Priority.Valid() {
				m.Priority = workerpool.PriorityNormal
			}
		}
		if m.Key != "" && (ln.track || len(ln.keys) > 0) {
			if ks := ln.keys[m.Key]; ks != nil {
				ks.waiting.push(job{m: m})
				continue
			}
			if ln.track {
				ln.keys[m.Key] = ln.newKeyState()
			}
		}
		return job{m: m}, true
	}
}

func (ln *lane) hasWork() bool {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return !ln.closed && ln.cur != nil && (ln.ready.len() > 0 || ln.cur.Backlog() > 0)
}

func (ln *lane) newKeyState() *keyState {
	if n := len(ln.spare); n > 0 {
		ks := ln.spare[n-1]
		ln.spare = ln.spare[:n-1]
		return ks
	}
	return &keyState{}
}

// settle acknowledges m and lets the next message of its key run.
func (ln *lane) settle(m Message) {
	ln.mu.Lock()
	ln.settleLocked(m)
	ln.mu.Unlock()
}

func (ln *lane) settleLocked(m Message) {
	if !ln.closed {
		ln.cur.Ack(m.Seq)
	}
	if m.Key != "" && len(ln.keys) > 0 {
		if ks := ln.keys[m.Key]; ks != nil {
			if ks.waiting.len() > 0 {
				ln.ready.push(ks.waiting.pop())
			} else {
				delete(ln.keys, m.Key)
				if len(ln.spare) < 64 {
					ks.waiting.reset()
					ln.spare = append(ln.spare, ks)
				}
			}
		}
	}
}

// retryLater keeps j's key busy and brings j back after d.
func (ln *lane) retryLater(j job, d time.Duration) {
	ln.mu.Lock()
	if ln.closed {
		reason := ln.reason
		ln.mu.Unlock()
		ln.b.drop(reason, 1)
		return
	}
	if j.m.Key != "" && ln.keys[j.m.Key] == nil {
		ln.keys[j.m.Key] = ln.newKeyState()
	}
	ln.retrying++
	ln.mu.Unlock()
	if d <= 0 || !ln.b.delay.Schedule(d, func() { ln.retryDue(j) }) {
		ln.retryDue(j)
	}
}

// retryDue runs on the delay queue's goroutine: it must be quick.
func (ln *lane) retryDue(j job) {
	ln.mu.Lock()
	ln.retrying--
	if ln.closed { // counted when the lane was closed
		ln.mu.Unlock()
		return
	}
	ln.ready.push(j)
	ln.mu.Unlock()
	ln.wake(j.m.Priority)
}

// close stops the lane: what it has not started is dropped and counted with
// reason; running attempts finish. It detaches the cursor, so the partition
// no longer waits for this consumer. With nack, held messages are first
// handed back to the broker (a durable one redelivers them later).
func (ln *lane) close(reason DropReason, nack bool) {
	ln.mu.Lock()
	if ln.closed {
		ln.mu.Unlock()
		return
	}
	n := ln.cur.Backlog() + ln.ready.len() + ln.retrying
	if nack {
		ln.ready.each(func(j job) { ln.cur.Nack(j.m.Seq) })
	}
	for _, ks := range ln.keys {
		n += ks.waiting.len()
		if nack {
			ks.waiting.each(func(j job) { ln.cur.Nack(j.m.Seq) })
		}
	}
	ln.closed = true
	ln.reason = reason
	ln.ready = jobQueue{}
	ln.keys = nil
	ln.spare = nil
	ln.cur.Detach()
	ln.cur = nil // let the partition's buffer go with the topic
	ln.mu.Unlock()
	ln.b.drop(reason, n)
}

// reportMalformed counts n malformed messages from the broker.
func (ln *lane) reportMalformed(n int) {
	ln.b.drop(DropMalformed, n)
	if ln.b.cfg.Logger != nil {
		ln.b.cfg.Logger.Error("bus: malformed message from the broker acknowledged and dropped",
			"topic", ln.t.name, "count", n)
	}
}

// jobQueue is a FIFO ring of jobs that grows by doubling.
type jobQueue struct {
	buf  []job
	head int
	n    int
}

func (q *jobQueue) len() int { return q.n }

func (q *jobQueue) push(j job) {
	if q.n == len(q.buf) {
		nb := make([]job, max(8, 2*len(q.buf)))
		for i := range q.n {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = j
	q.n++
}

func (q *jobQueue) pop() job {
	j := q.buf[q.head]
	q.buf[q.head] = job{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return j
}

func (q *jobQueue) each(fn func(job)) {
	for i := range q.n {
		fn(q.buf[(q.head+i)%len(q.buf)])
	}
}

func (q *jobQueue) reset() {
	clear(q.buf)
	q.head, q.n = 0, 0
}

// counters are one lane's (or a retired set's) delivery counts.
type counters struct {
	delivered    atomic.Uint64
	processed    atomic.Uint64
	failed       atomic.Uint64
	retried      atomic.Uint64
	deadLettered atomic.Uint64
	duplicates   atomic.Uint64
	expired      atomic.Uint64
}

func (c *counters) addTo(s *TopicStats) {
	s.Delivered += c.delivered.Load()
	s.Processed += c.processed.Load()
	s.Failed += c.failed.Load()
	s.Retried += c.retried.Load()
	s.DeadLettered += c.deadLettered.Load()
	s.DuplicatesSuppressed += c.duplicates.Load()
	s.Expired += c.expired.Load()
}

func (c *counters) absorb(o *counters) {
	c.delivered.Add(o.delivered.Load())
	c.processed.Add(o.processed.Load())
	c.failed.Add(o.failed.Load())
	c.retried.Add(o.retried.Load())
	c.deadLettered.Add(o.deadLettered.Load())
	c.duplicates.Add(o.duplicates.Load())
	c.expired.Add(o.expired.Load())
}
