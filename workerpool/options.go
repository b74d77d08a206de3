package workerpool

import (
	"strconv"
	"time"

	"github.com/novaevents/nova/shared"
)

// Defaults used by New when a value is not given or not valid.
const (
	// DefaultQueueFactor is the queue size per worker when New gets a
	// queueSize ≤ 0: workers × 10, as the sizing research recommends.
	DefaultQueueFactor = 10
	// DefaultHighWeight, DefaultNormalWeight and DefaultLowWeight are the
	// weighted-round-robin credits of the high, normal and low lanes.
	DefaultHighWeight   = 8
	DefaultNormalWeight = 4
	DefaultLowWeight    = 1
	// DefaultIdleTimeout is how long a worker above MinWorkers may stay idle
	// before it exits.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultName is the component name reported to shared.Metrics.
	DefaultName = "workerpool"
)

// Option configures a Pool in New. Invalid values (a weight or size ≤ 0) are
// ignored and the default is kept, so New never fails.
type Option func(*config)

type config struct {
	weights     [numLanes]int // by lane index; the critical entry is unused
	overflow    Overflow
	onEvict     func(task func(), pr Priority)
	onPanic     func(*shared.PanicError)
	minWorkers  int // -1: same as the maximum (a static pool)
	idleTimeout time.Duration
	metrics     shared.Metrics
	name        string
	timing      bool
	err         error // the first option value New cannot use
}

// refuse records the first option value that makes no sense.
func (c *config) refuse(field, reason string) {
	if c.err == nil {
		c.err = configError(field, reason)
	}
}

func defaultConfig() config {
	return config{
		weights:     [numLanes]int{0, DefaultHighWeight, DefaultNormalWeight, DefaultLowWeight},
		overflow:    Block,
		minWorkers:  -1,
		idleTimeout: DefaultIdleTimeout,
		name:        DefaultName,
	}
}

// WithWeights sets the weighted-round-robin credits of the high, normal and
// low lanes (default 8:4:1): in a round where all three lanes have work, high
// gets `high` dequeues, normal `normal` and low `low`. A weight of 0 keeps
// its default; a negative one is refused (see New). Lanes with no work are
// skipped, so no worker waits for a share that nobody uses.
func WithWeights(high, normal, low int) Option {
	return func(c *config) {
		for i, w := range [...]int{high, normal, low} {
			switch {
			case w < 0:
				c.refuse("WithWeights", "negative weight "+strconv.Itoa(w))
			case w > 0:
				c.weights[i+1] = w
			}
		}
	}
}

// WithOverflow sets what Submit and SubmitPriority do when the queue is
// full (default Block). TrySubmit never waits whatever the policy.
func WithOverflow(o Overflow) Option {
	return func(c *config) { c.overflow = o }
}

// WithOnEvict sets the function that receives every task evicted by
// EvictOldest or EvictLowerPriority, with the priority it was queued at. It
// runs in the goroutine of the submit call that caused the eviction, after
// the pool's lock is released, so it may submit again; it should be quick,
// and a panic in it reaches that caller. The task is not run: call it, log
// it or hand it elsewhere. Without the callback evicted tasks are still
// counted (Stats.Evicted) and reported to the metrics hook.
func WithOnEvict(fn func(task func(), pr Priority)) Option {
	return func(c *config) { c.onEvict = fn }
}

// WithPanicHandler sets a function called, on the worker, with every
// recovered task panic (value and stack). Panics are counted and reported to
// the metrics hook whether or not a handler is set.
func WithPanicHandler(fn func(*shared.PanicError)) Option {
	return func(c *config) { c.onPanic = fn }
}

// WithMinWorkers makes the pool dynamic: it keeps at least n workers, starts
// more on demand up to the pool's size, and lets workers above n exit after
// WithIdleTimeout of idleness. Without it the pool is static (all workers
// start in New and stay). n < 0 is refused (see New); n above the size is
// lowered to it.
func WithMinWorkers(n int) Option {
	return func(c *config) {
		if n < 0 {
			c.refuse("WithMinWorkers", "negative")
			return
		}
		c.minWorkers = n
	}
}

// WithIdleTimeout sets how long a worker above the minimum may stay idle
// before it exits (default 30s). d < 0 is refused (see New); 0 keeps the
// default.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) {
		switch {
		case d < 0:
			c.refuse("WithIdleTimeout", "negative")
		case d > 0:
			c.idleTimeout = d
		}
	}
}

// WithMetrics reports the pool to m: TaskDone for every task (lane, wait and
// run time, panicked), QueueDepth per lane, EventDropped for rejected and
// evicted tasks. It turns on timing (see WithTiming). A nil m is ignored.
func WithMetrics(m shared.Metrics) Option {
	return func(c *config) {
		if m != nil {
			c.metrics = m
			c.timing = true
		}
	}
}

// WithName sets the component name given to the metrics hook (default
// "workerpool").
func WithName(name string) Option {
	return func(c *config) {
		if name != "" {
			c.name = name
		}
	}
}

// WithTiming records how long each task waited in its lane and how long it
// ran: Stats then carries per-lane wait histograms and BusyTime. It costs two
// clock reads per task, so it is off by default.
func WithTiming() Option {
	return func(c *config) { c.timing = true }
}
