package workerpool

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/shared"
)

// Pool runs tasks on a bounded set of worker goroutines, taking them from
// four priority lanes that share one bounded queue. It is safe for
// concurrent use. Create it with New and stop it with Close.
//
// Goroutines: the workers (all of them from New for a static pool, the
// minimum for a dynamic one, more started on demand), and for a dynamic pool
// a timer callback that retires idle workers. Nothing is started per task.
//
// Costs: a submit takes one short lock and hands the task to an idle worker
// or puts it in its lane; it allocates nothing. Only waiting for room (a full
// queue under Block or BlockTimeout) takes more.
type Pool struct {
	// The fields every submit and every dequeue touch come first, beside
	// the lock, so that a task moves as few cache lines between the cores
	// of its submitter and its worker as possible. Everything below is
	// guarded by mu unless it says otherwise.
	mu       sync.Mutex
	queued   int             // tasks in the lanes
	capacity int             // the most tasks the lanes hold together
	nonEmpty uint32          // bit l is set when lanes[l] holds tasks
	closed   bool            // Close was called
	timing   bool            // measure waits and run times
	live     int             // workers counted against the size
	maxW     int             // the pool's size
	running  int             // tasks being run
	nwaiting int             // submits waiting for room
	credits  [numLanes]int   // round-robin credits left in this round
	nidle    int             // len(idle), kept here to spare the submit a cache line
	done     uint64          // tasks that finished running (Stats.Completed)
	_        [cacheLine]byte // the lanes start on their own line
	lanes    [numLanes]laneQ // by lane index: critical, high, normal, low

	stamped   bool  // entries carry strictly increasing stamps (timing or EvictOldest)
	lastStamp int64 // the stamp of the last entry pushed
	weights   [numLanes]int
	idle      []*worker // parked workers; the last one parked is reused first
	procs     int       // worker goroutines that have not returned yet
	minW      int
	static    bool
	byGID     map[uint64]*worker

	waiters [numLanes][]*waiter // submits waiting for room, per lane, oldest first
	free    []*waiter
	// admitCredits are the round-robin credits for admitting waiters.
	admitCredits [numLanes]int

	quiet  chan struct{} // closed and cleared when Drain or Close may be done
	inWait int           // workers blocked in Drain or Close from inside a task

	reaper      *time.Timer
	reaperArmed bool

	n counters

	hist [numLanes][NumWaitBuckets]atomic.Uint64
	busy atomic.Int64

	epoch   time.Time
	metrics shared.Metrics
	cfg     config
	bad     error // New refused its arguments: nothing else is set
}

// Limits of New's arguments.
const (
	// MaxWorkers is the most workers a pool may have. A static pool starts
	// them all at once: 10,000 goroutines hold some 30 MiB of stacks.
	MaxWorkers = 10_000
	// MaxQueueSize is the largest queue a pool may have.
	MaxQueueSize = 1 << 22
)

// Err returns why New refused its arguments (a *ConfigError),
// ErrNotInitialized for the zero Pool, and nil for a usable pool.
func (p *Pool) Err() error {
	if p.capacity > 0 {
		return nil
	}
	if p.bad != nil {
		return p.bad
	}
	return ErrNotInitialized
}

// cacheLine is the padding that keeps hot fields apart.
const cacheLine = 64

// laneQ is one priority lane: its queue and the counters updated with it,
// together in one cache line.
type laneQ struct {
	ring
	submitted, dequeued uint64
	_                   [cacheLine - 56]byte
}

// counters are the figures that change only on rare paths.
type counters struct {
	failed, panicked, rejected, evicted, inline uint64
	laneEvicted, laneRejected                   [numLanes]uint64
}

// New returns a pool of up to workers goroutines and a queue of queueSize
// tasks shared by all priority lanes. workers 0 means DefaultWorkers();
// queueSize 0 means workers × 10. New never panics. Nonsense (a negative
// size, more than MaxWorkers workers or a queue above MaxQueueSize, an
// option given a value it cannot use) makes a pool that starts nothing and
// whose every method returns the *ConfigError; Err returns it at once.
//
// By default the pool is static (every worker starts now and stays until
// Close), a full queue makes Submit wait (Block), and the lanes are served
// 8:4:1. See the Option functions to change that.
func New(workers, queueSize int, opts ...Option) *Pool {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	switch {
	case cfg.err != nil:
	case workers < 0:
		cfg.err = configError("workers", "negative")
	case workers > MaxWorkers:
		cfg.err = configError("workers", shared.Range(int64(workers), 0, MaxWorkers)+
			": each worker is a goroutine, started at once by a static pool; use fewer workers, or WithMinWorkers for a pool that grows on demand up to at most MaxWorkers")
	case queueSize < 0:
		cfg.err = configError("queueSize", "negative")
	case queueSize > MaxQueueSize:
		cfg.err = configError("queueSize", shared.Range(int64(queueSize), 0, MaxQueueSize))
	}
	if cfg.err != nil {
		return &Pool{bad: cfg.err}
	}
	if workers == 0 {
		workers = DefaultWorkers()
	}
	if queueSize == 0 {
		queueSize = min(workers*DefaultQueueFactor, MaxQueueSize)
	}
	p := &Pool{
		capacity:     queueSize,
		weights:      cfg.weights,
		credits:      cfg.weights,
		admitCredits: cfg.weights,
		maxW:         workers,
		minW:         workers,
		static:       cfg.minWorkers < 0,
		byGID:        make(map[uint64]*worker, workers),
		epoch:        time.Now(),
		timing:       cfg.timing,
		metrics:      cfg.metrics,
		cfg:          cfg,
	}
	p.stamped = p.timing || cfg.overflow.kind == overflowEvictOldest
	if !p.static {
		p.minW = min(cfg.minWorkers, workers)
	}
	p.mu.Lock()
	for range p.minW {
		p.startLocked(entry{})
	}
	p.mu.Unlock()
	return p
}

// now returns the time since the pool was created, on the monotonic clock.
func (p *Pool) now() int64 { return int64(time.Since(p.epoch)) }

// Workers returns the pool's size: the most workers it runs at once.
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxW
}

// Resize sets the pool's size to n at run time. A static pool starts or
// stops workers to have exactly n; a dynamic pool lowers its minimum to n if
// needed and starts workers on demand as before. Surplus idle workers stop at
// once, busy ones when their task returns; queued tasks are kept. It returns
// ErrInvalidSize for n < 1 or above MaxWorkers and ErrClosed after Close.
func (p *Pool) Resize(n int) error {
	if err := p.Err(); err != nil {
		return err
	}
	if n < 1 || n > MaxWorkers {
		return ErrInvalidSize
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.maxW = n
	if p.static || p.minW > n {
		p.minW = n
	}
	for p.live > p.maxW && len(p.idle) > 0 {
		p.stopLocked(p.popIdleLocked())
	}
	for p.live < p.minW {
		p.startLocked(entry{})
	}
	for need := p.queued; need > 0 && p.live < p.maxW; need-- {
		p.startLocked(entry{})
	}
	return nil
}

// Stats returns a snapshot of the pool's figures.
func (p *Pool) Stats() Stats {
	if p.Err() != nil {
		return Stats{}
	}
	p.mu.Lock()
	s := Stats{
		Workers:     p.live,
		IdleWorkers: p.nidle,
		MinWorkers:  p.minW,
		MaxWorkers:  p.maxW,
		QueueSize:   p.capacity,
		Queued:      p.queued,
		Running:     p.running,
		Completed:   p.done,
		Failed:      p.n.failed,
		Panicked:    p.n.panicked,
		Rejected:    p.n.rejected,
		Evicted:     p.n.evicted,
		Inline:      p.n.inline,
		Utilization: float64(p.running) / float64(p.maxW),
	}
	for l := range numLanes {
		q := &p.lanes[l]
		s.Submitted += q.submitted
		s.Lanes[l] = LaneStats{
			Priority:  lanePriority(l),
			Queued:    q.n,
			Submitted: q.submitted,
			Dequeued:  q.dequeued,
			Evicted:   p.n.laneEvicted[l],
			Rejected:  p.n.laneRejected[l],
		}
	}
	p.mu.Unlock()
	s.BusyTime = time.Duration(p.busy.Load())
	for l := range numLanes {
		for b := range NumWaitBuckets {
			s.Lanes[l].Wait.Counts[b] = p.hist[l][b].Load()
		}
	}
	return s
}
