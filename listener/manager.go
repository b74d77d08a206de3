package listener

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/internal/callback"
	"github.com/novaevents/nova/shared"
)

type lifecycle int

const (
	running lifecycle = iota
	stopping
	stopped
)

// Manager applies per-listener policies (concurrency limit, timeout, retry
// with backoff, circuit breaker, dead letter) to the attempts its callers
// make. The emitter and the bus call it for every listener they deliver to;
// it can also be called directly.
//
// A Manager is safe for concurrent use. It is ready when NewManager
// returns: Start is only needed after Stop. The zero Manager is usable too:
// its first method call sets it up as NewManager(ManagerConfig{}) would.
// A Manager must not be copied once used. It owns these goroutines, each
// started on first need and ended by Stop:
//   - one per listener (or Route policy) with a DeadLetter.Handler, calling it;
//   - one calling the circuits' OnStateChange callbacks.
//
// Route.Attempt and Handle are plain calls on the caller's goroutine and
// keep working after Stop.
type Manager struct {
	setupOnce sync.Once

	name    string
	metrics shared.Metrics // nil when none was configured
	hk      hooks          // metrics, name and timing sample, for routes
	log     *slog.Logger
	store   DeadLetterStore

	// regs is read by every attempt: the padding keeps it off the lines
	// of whatever the heap puts beside the Manager (a dispatcher's
	// buffer, written on every event).
	_     [64]byte
	regs  atomic.Pointer[registry]
	_     [56]byte
	unreg *reg // the policy and counters of listeners that are not registered

	stopping atomic.Bool // a Stop is draining: completions signal idle
	idle     chan struct{}
	handling atomic.Int64 // Handle calls running
	cut      atomic.Pointer[chan struct{}]

	mu       sync.Mutex
	state    lifecycle
	stopDone chan struct{}
	retired  []*reg         // unregistered while attempts were in flight
	draining []callback.Run // dead-letter goroutines of unregistered listeners
	// routeDLQs are the dead-letter goroutines of routes' fallback
	// policies (a bus topic's DeadLetter.Handler).
	routeDLQs []*callback.Runner[DeadLetter]
	leftovers []callback.Run // of a Stop that ran out of time

	callbacks *callback.Runner[stateChange]

	dlSeq       atomic.Uint64
	dlStored    atomic.Uint64
	dlEvicted   atomic.Uint64
	dlLost      atomic.Uint64
	dlStoreErrs atomic.Uint64
	dlRedriven  atomic.Uint64
}

type stateChange struct {
	fn       func(string, CircuitState, CircuitState)
	id       string
	from, to CircuitState
}

// reg is one registered listener: its filled-in config, its limiters and
// its counters.
type reg struct {
	id      string
	cfg     ListenerConfig
	sem     chan struct{} // nil without a concurrency limit
	breaker *breaker      // nil without a circuit breaker
	dlq     *callback.Runner[DeadLetter]

	*counts // shared by every fallback registration of the unregistered

	// light: the policy of listeners that are not registered. Only their
	// failed attempts are counted (and Stop does not wait for their
	// attempts): their success path pays for no shared counter.
	light bool
}

// counts are a registration's counters. The registrations that routes make
// for listeners that are not registered share the manager's unregistered
// counts, so that Stats.Unregistered sums them.
type counts struct {
	// started and finished count attempts that reached the handler; their
	// difference is the attempts in flight. Two atomic adds per attempt is
	// all the success path pays for counting.
	started     atomic.Uint64
	finished    atomic.Uint64
	failures    atomic.Uint64
	timeouts    atomic.Uint64
	panics      atomic.Uint64
	rejected    atomic.Uint64
	retries     atomic.Uint64
	deadLetters atomic.Uint64
	discarded   atomic.Uint64
	consecutive atomic.Int64

	mu        sync.Mutex
	lastErr   error
	lastErrAt time.Time
}

// registry is an immutable snapshot of the registrations, replaced as a
// whole by Register and Unregister so that lookups take no lock.
type registry struct {
	list []*reg
	byID map[string]*reg // nil while list is short enough to scan
}

// scanLimit is the number of registrations up to which get scans the list:
// comparing a few IDs (usually the very string registered, so equal by
// pointer) is cheaper than hashing one.
const scanLimit = 8

func newRegistry(list []*reg) *registry {
	rg := &registry{list: list}
	if len(list) > scanLimit {
		rg.byID = make(map[string]*reg, len(list))
		for _, r := range list {
			rg.byID[r.id] = r
		}
	}
	return rg
}

func (rg *registry) get(id string) *reg {
	if rg.byID != nil {
		return rg.byID[id]
	}
	for _, r := range rg.list {
		if r.id == id {
			return r
		}
	}
	return nil
}

// inflight returns the attempts of r running now.
func (r *reg) inflight() int64 {
	done := r.finished.Load() // first: finished never passes started
	return int64(r.started.Load() - done)
}

// NewManager returns a ready Manager. Zero and negative sizes in cfg mean
// their defaults.
func NewManager(cfg ManagerConfig) *Manager {
	m := new(Manager)
	m.setupOnce.Do(func() { m.setup(cfg) })
	return m
}

// init sets up a zero Manager on its first method call. Every exported
// method calls it first; on a Manager from NewManager it is one atomic load.
func (m *Manager) init() {
	m.setupOnce.Do(m.setupZero)
}

func (m *Manager) setupZero() { m.setup(ManagerConfig{}) }

func (m *Manager) setup(cfg ManagerConfig) {
	cfg = cfg.withDefaults()
	m.name = cfg.Name
	m.metrics = cfg.Metrics
	m.hk = newHooks(cfg.Metrics, cfg.Name)
	m.log = cfg.Logger
	m.store = cfg.DeadLetterStore
	m.idle = make(chan struct{}, 1)
	m.regs.Store(newRegistry(nil))
	cut := make(chan struct{})
	m.cut.Store(&cut)
	m.unreg = &reg{cfg: ListenerConfig{}.withDefaults(""), counts: new(counts), light: true}
	m.callbacks = callback.New(cfg.CallbackQueueSize, func(c stateChange) { c.fn(c.id, c.from, c.to) }, m.callbackPanic)
}

// Register applies cfg to the listener l, and to every listener with the
// same ID that the manager's callers deliver to. It refuses a nil listener,
// an empty ID (shared.ErrInvalidListener), an ID already registered
// (ErrAlreadyRegistered) and nonsense in cfg (ErrInvalidConfig), such as
// a DeadLetter.Handler without DeadLetter.Enabled.
func (m *Manager) Register(l shared.Listener, cfg ListenerConfig) error {
	m.init()
	if err := shared.ValidateListener(l); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	id := l.ID()
	cfg = cfg.withDefaults(id)
	r := &reg{id: id, cfg: cfg, counts: new(counts)}
	if cfg.Concurrency > 0 {
		r.sem = make(chan struct{}, cfg.Concurrency)
	}
	if cfg.Circuit.Enabled {
		var notify func(from, to CircuitState)
		if fn := cfg.Circuit.OnStateChange; fn != nil {
			notify = func(from, to CircuitState) {
				m.callbacks.Send(stateChange{fn: fn, id: id, from: from, to: to})
			}
		}
		r.breaker = newBreaker(id, cfg.Circuit, notify)
		r.breaker.panicked = func(v any) { m.logPanic("Circuit.IsFailure", id, v) }
	}
	if cfg.DeadLetter.Enabled && cfg.DeadLetter.Handler != nil {
		h := cfg.DeadLetter.Handler
		r.dlq = callback.New(cfg.DeadLetter.QueueSize, func(d DeadLetter) { h(d.Event, d.Err) },
			func(v any) { m.logPanic("dead-letter handler", id, v) })
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.regs.Load()
	if old.get(id) != nil {
		return fmt.Errorf("%w: %q", ErrAlreadyRegistered, id)
	}
	if r.dlq != nil && m.state != running {
		r.dlq.Stop()
	}
	m.regs.Store(newRegistry(append(slices.Clip(old.list), r)))
	return nil
}

// Unregister removes the policies of listener id; later attempts call it
// unmanaged. Attempts and Handle calls already running finish under the old
// policy; dead letters already queued for its Handler are still handed to
// it, later ones only go to the store. It works the same after Stop.
func (m *Manager) Unregister(id string) error {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.regs.Load()
	r := old.get(id)
	if r == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	m.regs.Store(newRegistry(slices.DeleteFunc(slices.Clone(old.list), func(x *reg) bool { return x == r })))
	if r.inflight() != 0 {
		m.retired = append(m.retired, r)
	}
	if r.dlq != nil {
		if run, ok := r.dlq.Stop(); ok {
			m.draining = append(m.draining, run)
		}
	}
	return nil
}

// regFor returns l's registration, or the unregistered one.
func (m *Manager) regFor(id string) *reg {
	if r := m.regs.Load().get(id); r != nil {
		return r
	}
	return m.unreg
}

// Start restarts a stopped manager: dead-letter handlers, state-change
// callbacks and Retry work again. A new manager is already started; Start
// on a running manager returns nil, and during Stop it returns an error
// matching ErrClosed.
func (m *Manager) Start() error {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case running:
		return nil
	case stopping:
		return fmt.Errorf("%w: Stop is still in progress", ErrClosed)
	}
	m.state = running
	cut := make(chan struct{})
	m.cut.Store(&cut)
	m.stopping.Store(false)
	m.callbacks.Restart()
	for _, d := range m.routeDLQs {
		d.Restart()
	}
	for _, r := range m.regs.Load().list {
		if r.dlq != nil {
			r.dlq.Restart()
		}
	}
	return nil
}

// Stop drains the manager: it waits for the attempts and Handle calls
// running (their pending retries included) and for the retries scheduled
// with Retry, then for the dead-letter handlers and state-change callbacks
// to finish their queues, and ends the manager's goroutines.
//
// If ctx ends first, Stop stops waiting: Handle calls waiting to retry and
// retries scheduled with Retry are dead-lettered at once with an error
// matching ErrClosed, queued dead letters are not handed to their Handler
// (they stay in the store, counted in Stats.DeadLetterHandlerSkipped), and
// Stop returns ctx.Err(). A handler running at that moment cannot be
// interrupted; its goroutine ends when it returns.
//
// After Stop, Route.Attempt, Handle and Unregister still work; dead letters
// are stored but their Handler is not called until Start. Calling Stop
// again returns nil once the first call is done.
func (m *Manager) Stop(ctx context.Context) error {
	m.init()
	m.mu.Lock()
	switch m.state {
	case stopped:
		left := m.leftovers
		m.mu.Unlock()
		// A Stop that ran out of time left callbacks running: wait for
		// them, so that a later Stop returns once nothing runs.
		for _, run := range left {
			select {
			case <-run.Done():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	case stopping:
		done := m.stopDone
		m.mu.Unlock()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.state = stopping
	m.stopDone = make(chan struct{})
	m.stopping.Store(true)
	m.mu.Unlock()

	err := m.drain(ctx)
	if err != nil {
		close(*m.cut.Load())
	}

	m.mu.Lock()
	runs := m.draining
	m.draining = nil
	for _, d := range m.routeDLQs {
		if run, ok := d.Stop(); ok {
			runs = append(runs, run)
		}
	}
	m.mu.Unlock()
	if run, ok := m.callbacks.Stop(); ok {
		runs = append(runs, run)
	}
	for _, r := range m.regs.Load().list {
		if r.dlq != nil {
			if run, ok := r.dlq.Stop(); ok {
				runs = append(runs, run)
			}
		}
	}
	for _, run := range runs {
		if err == nil {
			select {
			case <-run.Done():
				continue
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		run.GiveUp()
	}

	m.mu.Lock()
	if err != nil {
		m.leftovers = runs
	} else {
		m.leftovers = nil
	}
	m.state = stopped
	close(m.stopDone)
	m.mu.Unlock()
	return err
}

// drain waits until no attempt, Handle call or scheduled retry is left.
func (m *Manager) drain(ctx context.Context) error {
	for !m.drained() {
		select {
		case <-m.idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (m *Manager) drained() bool {
	if m.handling.Load() != 0 || m.unreg.inflight() != 0 {
		return false
	}
	for _, r := range m.regs.Load().list {
		if r.inflight() != 0 {
			return false
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	live := m.retired[:0]
	for _, r := range m.retired {
		if r.inflight() != 0 {
			live = append(live, r)
		}
	}
	clear(m.retired[len(live):])
	m.retired = live
	return len(live) == 0
}

// signal wakes a draining Stop to look again.
func (m *Manager) signal() {
	select {
	case m.idle <- struct{}{}:
	default:
	}
}

func (m *Manager) callbackPanic(v any) { m.logPanic("circuit state callback", "", v) }

func (m *Manager) logPanic(what, id string, v any) {
	if m.log != nil {
		m.log.Error("listener: "+what+" panicked", "listener", id, "panic", v)
	}
}
