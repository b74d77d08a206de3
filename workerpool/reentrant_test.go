package workerpool_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/workerpool"
)

// Every worker runs a task that submits more tasks while the queue is full.
// If Submit waited inside the workers, nothing would ever make room: the
// bubble would deadlock and synctest would fail the test.
func TestTasksSubmittingToTheirFullPoolDoNotDeadlock(t *testing.T) {
	for _, policy := range []workerpool.Overflow{workerpool.Block, workerpool.BlockTimeout(time.Hour)} {
		t.Run(policy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const workers, fanout = 3, 20
				p := workerpool.New(workers, 2, workerpool.WithOverflow(policy))
				var ran atomic.Int64
				var wg sync.WaitGroup
				wg.Add(workers * (1 + fanout))
				for range workers {
					err := p.Submit(context.Background(), func() {
						defer wg.Done()
						for range fanout {
							if err := p.Submit(context.Background(), func() { ran.Add(1); wg.Done() }); err != nil {
								t.Errorf("inner Submit: %v", err)
								wg.Done()
							}
						}
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				wg.Wait()
				if err := p.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				s := p.Stats()
				if ran.Load() != workers*fanout {
					t.Errorf("%d of %d inner tasks ran", ran.Load(), workers*fanout)
				}
				if s.Inline == 0 {
					t.Error("no task ran inline, so the full-queue path was not exercised")
				}
				checkInvariant(t, s)
			})
		})
	}
}

func TestTrySubmitFromATaskFailsFastWhenFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := workerpool.New(1, 1)
		var inner error
		done := make(chan struct{})
		hold := make(chan struct{})
		_ = p.Submit(context.Background(), func() {
			defer close(done)
			_ = p.TrySubmit(func() { <-hold }) // fills the queue
			inner = p.TrySubmit(func() {})
		})
		<-done
		close(hold)
		if !errors.Is(inner, workerpool.ErrQueueFull) {
			t.Errorf("got %v, want ErrQueueFull", inner)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// A submitter that is not a worker still waits for room, even when it is
// the only one waiting on a one-worker pool.
func TestOutsideSubmitWaitsInsteadOfRunningInline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := workerpool.New(1, 1)
		release := occupy(t, p, 1)
		_ = p.TrySubmit(func() {})
		errc := make(chan error)
		go func() { errc <- p.Submit(context.Background(), func() {}) }()
		synctest.Wait()
		select {
		case err := <-errc:
			t.Fatalf("Submit returned %v while the queue was full", err)
		default:
		}
		release()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s := p.Stats(); s.Inline != 0 {
			t.Errorf("Inline = %d, want 0", s.Inline)
		}
	})
}

func TestCloseAndDrainFromATaskDoNotWaitForThemselves(t *testing.T) {
	for _, call := range []string{"Close", "Drain"} {
		t.Run(call, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := workerpool.New(1, 8)
				var ran atomic.Int64
				errc := make(chan error, 1)
				hold := make(chan struct{})
				_ = p.Submit(context.Background(), func() {
					<-hold
					if call == "Close" {
						errc <- p.Close(context.Background())
					} else {
						errc <- p.Drain(context.Background())
					}
				})
				for range 5 {
					_ = p.TrySubmit(func() { ran.Add(1) })
				}
				close(hold)
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
				if ran.Load() != 5 {
					t.Errorf("%s returned with %d of 5 queued tasks run", call, ran.Load())
				}
				if err := p.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// When Resize removes workers while tasks wait inside the others, the
// waiters re-check, so the last worker does not wait forever.
func TestShrinkingWhileWorkersWaitDoesNotDeadlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := workerpool.New(2, 1)
		hold := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(2)
		// Worker A blocks in Submit (queue full); worker B will be retired.
		_ = p.Submit(context.Background(), func() {
			defer wg.Done()
			<-hold
			_ = p.Submit(context.Background(), func() {})
			_ = p.Submit(context.Background(), func() {})
		})
		_ = p.Submit(context.Background(), func() { defer wg.Done(); <-hold })
		_ = p.TrySubmit(func() {})
		if err := p.Resize(1); err != nil {
			t.Fatal(err)
		}
		close(hold)
		wg.Wait()
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkInvariant(t, p.Stats())
	})
}
