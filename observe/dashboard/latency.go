package dashboard

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/shared"
)

// Latency buckets: bucket i counts attempts that took less than 2^i µs
// (the last one everything longer, from about 34 s).
const latencyBuckets = 26

// maxLatencyListeners bounds the listeners whose latency is kept; attempts
// of further listeners are not recorded.
const maxLatencyListeners = 500

type latencyHist struct {
	counts [latencyBuckets]atomic.Uint64
}

func bucketOf(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	return min(bits.Len64(us), latencyBuckets-1)
}

// bucketBound is the upper bound of bucket i.
func bucketBound(i int) time.Duration { return time.Duration(uint64(1)<<i) * time.Microsecond }

// Latency is a shared.Metrics that records each listener's attempt
// latency for the page's percentiles. Give it to the listener manager
// (ManagerConfig.Metrics) and to the dashboard (Options.Latency). It
// forwards every call to next, so it can sit in front of observe/prom.
//
// While no page watches, it only forwards: an atomic load per attempt.
// While one does, it adds a map lookup and an atomic add. Note that a
// manager with Metrics reads the clock around each attempt. At most 500
// listeners are recorded. It is safe for concurrent use.
type Latency struct {
	next     shared.Metrics
	watching atomic.Int32 // viewers of the dashboards that show it

	mu   sync.Mutex
	byID atomic.Pointer[map[string]*latencyHist] // copy on write
}

// NewLatency returns a Latency that forwards to next (nil for none).
func NewLatency(next shared.Metrics) *Latency {
	if next == nil {
		next = shared.NopMetrics{}
	}
	return &Latency{next: next}
}

func (r *Latency) hist(id string, create bool) *latencyHist {
	if m := r.byID.Load(); m != nil {
		if l, ok := (*m)[id]; ok || !create {
			return l
		}
	} else if !create {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.byID.Load()
	n := 0
	if old != nil {
		if l, ok := (*old)[id]; ok {
			return l
		}
		n = len(*old)
	}
	if n >= maxLatencyListeners {
		return nil
	}
	m := make(map[string]*latencyHist, n+1)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	l := new(latencyHist)
	m[id] = l
	r.byID.Store(&m)
	return l
}

// TimeOneIn passes on the timing sample of the Metrics it forwards to.
func (r *Latency) TimeOneIn() int { return int(shared.TimeOneIn(r.next)) }

func (r *Latency) EventHandled(component, listenerID, eventType string, d time.Duration, err error) {
	if d >= 0 && r.watching.Load() > 0 {
		if l := r.hist(listenerID, true); l != nil {
			l.counts[bucketOf(d)].Add(1)
		}
	}
	r.next.EventHandled(component, listenerID, eventType, d, err)
}

func (r *Latency) EventEmitted(component, eventType string, err error) {
	r.next.EventEmitted(component, eventType, err)
}
func (r *Latency) EventDropped(component, reason string) { r.next.EventDropped(component, reason) }
func (r *Latency) EventRetried(component, listenerID string) {
	r.next.EventRetried(component, listenerID)
}
func (r *Latency) EventDeadLettered(component, listenerID string) {
	r.next.EventDeadLettered(component, listenerID)
}
func (r *Latency) QueueDepth(component, queue string, depth int) {
	r.next.QueueDepth(component, queue, depth)
}
func (r *Latency) TaskDone(component, lane string, wait, run time.Duration, panicked bool) {
	r.next.TaskDone(component, lane, wait, run, panicked)
}

// window returns listener id's latency percentiles over the attempts
// recorded since the previous call with the same prev, which it updates.
func (r *Latency) window(id string, prev *[latencyBuckets]uint64) (p50, p95, p99 float64, ok bool) {
	if r == nil {
		return 0, 0, 0, false
	}
	l := r.hist(id, false)
	if l == nil {
		return 0, 0, 0, false
	}
	var delta [latencyBuckets]uint64
	var total uint64
	for i := range delta {
		c := l.counts[i].Load()
		delta[i] = c - prev[i]
		prev[i] = c
		total += delta[i]
	}
	if total == 0 {
		return 0, 0, 0, false
	}
	q := func(f float64) float64 {
		want := uint64(f*float64(total) + 0.5)
		want = max(want, 1)
		var seen uint64
		for i, c := range delta {
			seen += c
			if seen >= want {
				return float64(bucketBound(i)) / 1e6
			}
		}
		return float64(bucketBound(latencyBuckets-1)) / 1e6
	}
	return q(0.50), q(0.95), q(0.99), true
}
