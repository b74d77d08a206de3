package workerpool

import (
	"math/bits"
	"time"
)

// Stats is a snapshot of a pool, returned by Pool.Stats. Counters only grow.
// At any moment Submitted = Completed + Running + Queued + Evicted.
type Stats struct {
	Workers     int // worker goroutines alive now
	IdleWorkers int // of which waiting for work
	MinWorkers  int // workers kept even when idle
	MaxWorkers  int // the pool's size: the most workers it runs at once
	QueueSize   int // capacity shared by all lanes

	Queued  int // tasks waiting in the lanes
	Running int // tasks being run

	Submitted uint64 // tasks accepted
	Completed uint64 // tasks that finished running, including failed ones
	Failed    uint64 // tasks that did not return normally: a panic or runtime.Goexit
	Panicked  uint64 // tasks whose panic was recovered (a subset of Failed)
	Rejected  uint64 // tasks refused: queue full, wait cancelled, pool closed
	Evicted   uint64 // accepted tasks removed from the queue by an eviction policy
	// Inline counts tasks a worker ran itself because it submitted to its
	// own full pool under Block or BlockTimeout (see the package doc).
	Inline uint64

	// Utilization is Running / MaxWorkers at the time of the snapshot. It
	// can pass 1 while tasks run inline in their submitting worker.
	Utilization float64
	// BusyTime is the total time workers spent running tasks; zero unless
	// timing is on (WithTiming or WithMetrics).
	BusyTime time.Duration

	// Lanes holds per-lane figures, most urgent first; use Lane to index
	// them by Priority.
	Lanes [numLanes]LaneStats
}

// Lane returns the figures of the lane for p (the zero LaneStats for an
// invalid priority).
func (s Stats) Lane(p Priority) LaneStats {
	if !p.Valid() {
		return LaneStats{}
	}
	return s.Lanes[p.lane()]
}

// LaneStats are the figures of one priority lane.
type LaneStats struct {
	Priority  Priority
	Queued    int    // tasks waiting in this lane now
	Submitted uint64 // tasks accepted into this lane
	Dequeued  uint64 // tasks taken from this lane by a worker
	Evicted   uint64 // tasks evicted from this lane
	Rejected  uint64 // tasks refused for this lane
	// Wait is the distribution of the time tasks waited in this lane before
	// a worker took them; empty unless timing is on.
	Wait WaitHistogram
}

// NumWaitBuckets is the number of buckets of a WaitHistogram.
const NumWaitBuckets = 12

// WaitHistogram counts wait times in buckets whose upper bounds grow by 4×
// from 1µs: ≤1µs, ≤4µs, ≤16µs, … ≤1.05s, and above (the last bucket).
// Workers update it with atomic adds, never under a lock.
type WaitHistogram struct {
	Counts [NumWaitBuckets]uint64
}

// WaitBucketBound returns the upper bound of bucket i; the last bucket has
// no bound and returns the largest Duration.
func WaitBucketBound(i int) time.Duration {
	if i < 0 {
		return 0
	}
	if i >= NumWaitBuckets-1 {
		return time.Duration(1<<63 - 1)
	}
	return time.Microsecond << (2 * i)
}

// waitBucket returns the bucket index of d.
func waitBucket(d time.Duration) int {
	if d <= time.Microsecond {
		return 0
	}
	// bucket i holds d in (4^(i-1) µs, 4^i µs]; us is d rounded up to µs.
	us := uint64((d + time.Microsecond - 1) / time.Microsecond)
	i := (bits.Len64(us-1) + 1) / 2
	if i >= NumWaitBuckets {
		i = NumWaitBuckets - 1
	}
	return i
}

// Total returns the number of recorded waits.
func (h WaitHistogram) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Quantile returns the upper bound of the bucket holding quantile q
// (0 < q ≤ 1), or 0 when nothing was recorded.
func (h WaitHistogram) Quantile(q float64) time.Duration {
	total := h.Total()
	if total == 0 {
		return 0
	}
	if q <= 0 {
		q = 0
	}
	if q > 1 {
		q = 1
	}
	rank := uint64(q * float64(total))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			return WaitBucketBound(i)
		}
	}
	return WaitBucketBound(NumWaitBuckets - 1)
}
