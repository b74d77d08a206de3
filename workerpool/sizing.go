package workerpool

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"
)

// Workload describes what a pool's tasks mostly do; it sets how many workers
// per usable CPU (runtime.GOMAXPROCS(0)) the sizing helpers suggest.
type Workload int

const (
	// WorkloadMixed is computation mixed with I/O: 2 workers per CPU.
	WorkloadMixed Workload = iota
	// WorkloadCPU is computation: 1 worker per CPU; more only add switching.
	WorkloadCPU
	// WorkloadIO is mostly waiting on disks and networks: 4 workers per CPU.
	WorkloadIO
)

// String returns "mixed", "cpu" or "io".
func (w Workload) String() string {
	switch w {
	case WorkloadMixed:
		return "mixed"
	case WorkloadCPU:
		return "cpu"
	case WorkloadIO:
		return "io"
	}
	return fmt.Sprintf("Workload(%d)", int(w))
}

// ParseWorkload reads "cpu", "mixed" or "io" (also "cpu-bound", "io-bound",
// any case).
func ParseWorkload(s string) (Workload, error) {
	switch strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "-bound") {
	case "cpu":
		return WorkloadCPU, nil
	case "mixed", "":
		return WorkloadMixed, nil
	case "io", "i/o":
		return WorkloadIO, nil
	}
	return WorkloadMixed, fmt.Errorf("workerpool: unknown workload %q (want cpu, mixed or io)", s)
}

// multiplier returns the workers per CPU of a workload.
func (w Workload) multiplier() int {
	switch w {
	case WorkloadCPU:
		return 1
	case WorkloadIO:
		return 4
	}
	return 2
}

// Sizing bounds used by DefaultWorkers and Recommend.
const (
	// MinDefaultWorkers and MaxDefaultWorkers bound DefaultWorkers.
	MinDefaultWorkers = 4
	MaxDefaultWorkers = 32
	// MaxRecommendedWorkers caps Recommend's worker count.
	MaxRecommendedWorkers = 4096
	// BufferSafetyFactor multiplies the in-flight estimate in Recommend's
	// BufferSize.
	BufferSafetyFactor = 3
)

// DefaultWorkers returns max(4, min(2.5 × GOMAXPROCS, 32)): the pool size New
// uses when given workers ≤ 0. It reads runtime.GOMAXPROCS(0), which honours
// CPU quotas and the GOMAXPROCS setting, not runtime.NumCPU.
func DefaultWorkers() int {
	w := runtime.GOMAXPROCS(0) * 5 / 2
	return max(MinDefaultWorkers, min(w, MaxDefaultWorkers))
}

// DefaultQueueSize returns workers × 10, the queue size New uses when given
// queueSize ≤ 0.
func DefaultQueueSize(workers int) int {
	if workers <= 0 {
		workers = DefaultWorkers()
	}
	return workers * DefaultQueueFactor
}

// WorkersFor returns the workers suggested for a kind of workload:
// GOMAXPROCS × 1 (CPU), × 2 (mixed) or × 4 (I/O). An unknown kind counts as
// mixed.
func WorkersFor(kind Workload) int {
	return runtime.GOMAXPROCS(0) * kind.multiplier()
}

// QueueSizeFor returns the queue that absorbs a burst of eventsPerSec
// lasting burst: eventsPerSec × burst, rounded up (50 000/s for 100ms is
// 5 000). It returns 0, meaning "use the default", when either is ≤ 0.
func QueueSizeFor(eventsPerSec int, burst time.Duration) int {
	if eventsPerSec <= 0 || burst <= 0 {
		return 0
	}
	return int(math.Ceil(float64(eventsPerSec) * burst.Seconds()))
}

// Recommendation is the result of Recommend.
type Recommendation struct {
	Workload Workload
	// Workers is the pool size: WorkersFor(kind), raised for I/O and mixed
	// work to the concurrency the rate needs (rate × processing time /
	// TargetUtilization), at most MaxRecommendedWorkers. CPU work never
	// gets more workers than CPUs.
	Workers int
	// QueueSize absorbs the burst: QueueSizeFor(rate, burst), or
	// Workers × 10 when no burst is given.
	QueueSize int
	// BufferSize is for an emitter or topic buffer in front of the pool:
	// rate × processing time × BufferSafetyFactor, at least QueueSize.
	BufferSize int
	// Capacity is how many tasks per second Workers can finish
	// (Workers / processing time); 0 when no processing time is given.
	Capacity float64
	// Utilization is the expected busy share of the workers (rate / Capacity).
	Utilization float64
	// Saturated reports that the rate exceeds Capacity: no queue is big
	// enough, the work has to get faster or be spread over more CPUs.
	Saturated bool
}

// TargetUtilization is the busy share Recommend sizes I/O and mixed pools
// for, leaving headroom for bursts.
const TargetUtilization = 0.8

// Recommend sizes a pool for a workload kind, a sustained event rate, a burst
// length to absorb and the average processing time of one task. Zero rate,
// burst or processing time mean "unknown" and fall back to the defaults.
func Recommend(kind Workload, eventsPerSec int, burst, processing time.Duration) Recommendation {
	r := Recommendation{Workload: kind, Workers: WorkersFor(kind)}
	rate := float64(max(eventsPerSec, 0))
	inFlight := 0.0 // tasks being processed at once on average (Little's law)
	if processing > 0 {
		inFlight = rate * processing.Seconds()
	}
	if kind != WorkloadCPU && inFlight > 0 {
		need := int(math.Ceil(inFlight / TargetUtilization))
		r.Workers = min(max(r.Workers, need), MaxRecommendedWorkers)
	}
	r.QueueSize = QueueSizeFor(eventsPerSec, burst)
	if r.QueueSize == 0 {
		r.QueueSize = r.Workers * DefaultQueueFactor
	}
	r.BufferSize = max(int(math.Ceil(inFlight*BufferSafetyFactor)), r.QueueSize)
	if processing > 0 {
		r.Capacity = float64(r.Workers) / processing.Seconds()
		r.Utilization = rate / r.Capacity
		r.Saturated = rate > r.Capacity
	}
	return r
}
