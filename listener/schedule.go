package listener

import (
	"fmt"

	"github.com/novaevents/nova/internal/delay"
	"github.com/novaevents/nova/shared"
)

type pendingRetry struct {
	r     *reg
	id    string
	e     shared.Event
	err   error
	n     int // the attempt that failed
	next  int // the attempt again is called with
	again func(n int)
}

// Retry is for callers that run attempts on their own workers and must not
// hold a worker through a backoff wait (an asynchronous emitter, a pool).
// After attempt n (1-based) of l on e failed with err, it decides as Next
// does. When another attempt is due, it arranges for again to be called
// with that attempt's number once the delay has passed, and returns true;
// again runs on the manager's single delay goroutine and must only hand the
// work back to a worker, which then calls Attempt and, on failure, Retry
// again. When no attempt is due, Retry dead-letters e (with a *RetryError)
// and returns false.
//
// While l's breaker is open in HoldWhileOpen mode, the event stays
// scheduled (the manager owns it) until the cool-down is over.
//
// At most ManagerConfig.MaxPendingRetries retries wait at once: past that,
// Retry dead-letters e with a *RetryError wrapping ErrRetryQueueFull,
// counts it in Stats.RetryQueueOverflow, and returns false.
//
// Stop waits for the retries scheduled here; if its ctx ends first, they are
// dead-lettered with an error matching ErrStopped and again is called with
// 0, so the owner can stop waiting for them. After Stop, Retry dead-letters
// at once with such an error and returns false.
func (m *Manager) Retry(l shared.Listener, e shared.Event, n int, err error, again func(n int)) bool {
	m.init()
	id := ""
	if !shared.IsNil(l) {
		id = l.ID()
	}
	r := m.regFor(id)
	v := r.next(n, err)
	if !v.retry {
		m.deadLetter(r, id, e, r.giveUp(id, e, n, v.cause, v.exhausted))
		return false
	}
	if again == nil {
		m.deadLetter(r, id, e, r.giveUp(id, e, n, err, false))
		return false
	}

	m.mu.Lock()
	if m.state == stopped || m.noRetry {
		m.mu.Unlock()
		m.deadLetter(r, id, e, r.stoppedGiveUp(id, e, n, err))
		return false
	}
	if len(m.pending) >= m.maxPending {
		m.mu.Unlock()
		m.retryOverflow.Add(1)
		m.deadLetter(r, id, e, r.giveUp(id, e, n, fmt.Errorf("%w: %w", ErrRetryQueueFull, err), false))
		return false
	}
	p := &pendingRetry{r: r, id: id, e: e, err: err, n: n, next: v.next, again: again}
	if m.queue == nil {
		m.queue = delay.New()
	}
	m.pending[p] = struct{}{}
	m.queue.Schedule(v.delay, func() { m.fire(p) })
	m.mu.Unlock()

	r.retries.Add(1)
	m.retriesSched.Add(1)
	if m.metrics != nil {
		m.metrics.EventRetried(m.name, id)
	}
	return true
}

// fire runs on the delay goroutine: it hands p back to its owner unless Stop
// has already dead-lettered it.
func (m *Manager) fire(p *pendingRetry) {
	m.mu.Lock()
	_, ok := m.pending[p]
	delete(m.pending, p)
	m.mu.Unlock()
	if !ok {
		return
	}
	p.again(p.next)
	if m.stopping.Load() {
		m.signal()
	}
}

// abandonRetries ends the retry goroutine and dead-letters every retry
// still waiting; until Start, Retry dead-letters at once.
func (m *Manager) abandonRetries() {
	m.mu.Lock()
	m.noRetry = true
	ps := m.pending
	m.pending = make(map[*pendingRetry]struct{})
	q := m.queue
	m.queue = nil
	m.mu.Unlock()
	if q != nil {
		q.Close()
	}
	for p := range ps {
		m.deadLetter(p.r, p.id, p.e, p.r.stoppedGiveUp(p.id, p.e, p.n, p.err))
		p.again(0) // abandoned: the owner stops waiting for it
	}
}

// PendingRetries returns the number of retries scheduled with Retry that
// have not been handed back yet.
func (m *Manager) PendingRetries() int {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}
