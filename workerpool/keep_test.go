package workerpool_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/novaevents/nova/workerpool"
)

// A task queued with TrySubmitKeep survives eviction policies: later
// submits evict ordinary tasks around it, or are refused, but never it.
func TestKeptTasksAreNeverEvicted(t *testing.T) {
	for _, policy := range []workerpool.Overflow{workerpool.EvictOldest, workerpool.EvictLowerPriority} {
		t.Run(policy.String(), func(t *testing.T) {
			var evicted atomic.Int32
			p := workerpool.New(1, 2, workerpool.WithOverflow(policy),
				workerpool.WithOnEvict(func(func(), workerpool.Priority) { evicted.Add(1) }))
			block := make(chan struct{})
			started := make(chan struct{})
			_ = p.TrySubmit(func() { close(started); <-block })
			<-started
			var kept atomic.Bool
			if err := p.TrySubmitKeep(workerpool.PriorityLow, func() { kept.Store(true) }); err != nil {
				t.Fatal(err)
			}
			_ = p.TrySubmitPriority(workerpool.PriorityLow, func() {}) // queue now full
			for range 5 {
				_ = p.TrySubmitPriority(workerpool.PriorityHigh, func() {})
			}
			if err := p.TrySubmitKeep(workerpool.PriorityHigh, func() {}); !errors.Is(err, workerpool.ErrQueueFull) {
				t.Errorf("TrySubmitKeep on a full queue = %v, want ErrQueueFull (it must not evict)", err)
			}
			close(block)
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !kept.Load() {
				t.Errorf("the kept task was evicted (%d evictions)", evicted.Load())
			}
			if evicted.Load() == 0 {
				t.Error("nothing was evicted: the test did not exercise eviction")
			}
		})
	}
}
