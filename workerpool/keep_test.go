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

// SubmitKeep waits for room in a full queue (never evicting, whatever the
// policy), and gives up with the caller's ctx or the pool's closing.
func TestSubmitKeepWaitsForRoomAndGivesUpOnCtxOrClose(t *testing.T) {
	p := workerpool.New(1, 1, workerpool.WithOverflow(workerpool.EvictOldest))
	block := make(chan struct{})
	started := make(chan struct{})
	_ = p.TrySubmit(func() { close(started); <-block })
	<-started
	var queued atomic.Bool
	_ = p.TrySubmit(func() { queued.Store(true) }) // the queue is full
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.SubmitKeep(ctx, workerpool.PriorityHigh, func() {}); !errors.Is(err, context.Canceled) {
		t.Errorf("SubmitKeep with an ended ctx = %v, want context.Canceled", err)
	}
	done := make(chan error, 1)
	var kept atomic.Bool
	go func() {
		done <- p.SubmitKeep(context.Background(), workerpool.PriorityHigh, func() { kept.Store(true) })
	}()
	close(block) // room comes once the running task ends
	if err := <-done; err != nil {
		t.Fatalf("SubmitKeep = %v", err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !kept.Load() || !queued.Load() {
		t.Errorf("kept %v, queued %v: SubmitKeep evicted or lost a task", kept.Load(), queued.Load())
	}
	if err := p.SubmitKeep(context.Background(), workerpool.PriorityNormal, func() {}); !errors.Is(err, workerpool.ErrClosed) {
		t.Errorf("SubmitKeep after Close = %v, want ErrClosed", err)
	}
}
