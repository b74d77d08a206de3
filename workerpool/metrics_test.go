package workerpool_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// recordingMetrics counts what the pool reports.
type recordingMetrics struct {
	shared.NopMetrics
	mu       sync.Mutex
	byLane   map[string]int
	dropped  map[string]int
	depths   int
	panicked atomic.Int64
}

func (m *recordingMetrics) TaskDone(component, lane string, wait, run time.Duration, panicked bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byLane == nil {
		m.byLane = map[string]int{}
	}
	m.byLane[component+"/"+lane]++
	if panicked {
		m.panicked.Add(1)
	}
}

func (m *recordingMetrics) EventDropped(component, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dropped == nil {
		m.dropped = map[string]int{}
	}
	m.dropped[component+"/"+reason]++
}

func (m *recordingMetrics) QueueDepth(component, queue string, depth int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.depths++
}

func TestMetricsHookSeesEveryTaskAndDrop(t *testing.T) {
	m := &recordingMetrics{}
	p := workerpool.New(1, 2, workerpool.WithMetrics(m), workerpool.WithName("jobs"),
		workerpool.WithOverflow(workerpool.EvictLowerPriority))
	release := occupy(t, p, 1)
	_ = p.TrySubmitPriority(workerpool.PriorityLow, func() {})
	_ = p.TrySubmitPriority(workerpool.PriorityLow, func() {})
	_ = p.TrySubmitPriority(workerpool.PriorityHigh, func() {}) // evicts a low task
	_ = p.TrySubmitPriority(workerpool.PriorityLow, func() {})  // nothing lower: rejected
	release()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = p.TrySubmit(func() {}) // closed

	m.mu.Lock()
	defer m.mu.Unlock()
	wantLanes := map[string]int{"jobs/normal": 1, "jobs/low": 1, "jobs/high": 1}
	for k, v := range wantLanes {
		if m.byLane[k] != v {
			t.Errorf("TaskDone %s = %d, want %d (all: %v)", k, m.byLane[k], v, m.byLane)
		}
	}
	wantDrops := map[string]int{"jobs/evicted": 1, "jobs/queue_full": 1, "jobs/closed": 1}
	for k, v := range wantDrops {
		if m.dropped[k] != v {
			t.Errorf("EventDropped %s = %d, want %d (all: %v)", k, m.dropped[k], v, m.dropped)
		}
	}
	if m.depths == 0 {
		t.Error("no QueueDepth reported")
	}
}

func TestWaitHistogramCountsEveryTaskWhenTimingIsOn(t *testing.T) {
	for _, timing := range []bool{false, true} {
		name := map[bool]string{false: "timing off leaves it empty", true: "timing on fills it"}[timing]
		t.Run(name, func(t *testing.T) {
			var opts []workerpool.Option
			if timing {
				opts = append(opts, workerpool.WithTiming())
			}
			p := workerpool.New(2, 64, opts...)
			for i := range 40 {
				_ = p.SubmitPriority(context.Background(), workerpool.Priority(i%2), func() {})
			}
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			s := p.Stats()
			var want uint64
			if timing {
				want = 20
			}
			for _, pr := range []workerpool.Priority{workerpool.PriorityNormal, workerpool.PriorityHigh} {
				if got := s.Lane(pr).Wait.Total(); got != want {
					t.Errorf("%v lane histogram has %d waits, want %d", pr, got, want)
				}
			}
		})
	}
}

func TestWaitHistogramBuckets(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want time.Duration // the bound of the bucket d falls in
	}{
		{0, time.Microsecond},
		{time.Microsecond, time.Microsecond},
		{time.Microsecond + 1, 4 * time.Microsecond},
		{4 * time.Microsecond, 4 * time.Microsecond},
		{5 * time.Microsecond, 16 * time.Microsecond},
		{time.Millisecond, 1024 * time.Microsecond},
		{time.Second, 1048576 * time.Microsecond},
		{time.Hour, workerpool.WaitBucketBound(workerpool.NumWaitBuckets - 1)},
	}
	for _, tt := range tests {
		var h workerpool.WaitHistogram
		h.Counts[workerpool.WaitBucketOf(tt.d)]++
		if got := h.Quantile(1); got != tt.want {
			t.Errorf("%v: bucket bound %v, want %v", tt.d, got, tt.want)
		}
	}
}
