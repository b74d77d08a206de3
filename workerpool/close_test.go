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

func TestCloseRunsEveryQueuedTask(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run("with "+map[int]string{1: "one worker", 3: "three workers"}[workers], func(t *testing.T) {
			const queued = 50
			p := workerpool.New(workers, queued)
			release := occupy(t, p, workers)
			var ran atomic.Int64
			for i := range queued {
				if err := p.TrySubmitPriority(workerpool.Priority(i%4-1), func() { ran.Add(1) }); err != nil {
					t.Fatal(err)
				}
			}
			closed := make(chan error)
			go func() { closed <- p.Close(context.Background()) }()
			release()
			if err := <-closed; err != nil {
				t.Fatal(err)
			}
			if ran.Load() != queued {
				t.Fatalf("Close returned after %d of %d queued tasks ran", ran.Load(), queued)
			}
			s := p.Stats()
			if s.Queued != 0 || s.Running != 0 || s.Workers != 0 || s.Completed != queued+uint64(workers) {
				t.Errorf("after Close: %+v", s)
			}
			checkInvariant(t, s)
		})
	}
}

func TestCloseRefusesNewTasksAndIsIdempotent(t *testing.T) {
	p := workerpool.New(2, 2)
	for range 3 {
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, err := range []error{
		p.Submit(ctx, func() {}),
		p.TrySubmit(func() {}),
		p.SubmitPriority(ctx, workerpool.PriorityHigh, func() {}),
		p.TrySubmitPriority(workerpool.PriorityLow, func() {}),
	} {
		if !errors.Is(err, workerpool.ErrClosed) {
			t.Errorf("got %v, want ErrClosed", err)
		}
	}
	if err := p.Resize(4); !errors.Is(err, workerpool.ErrClosed) {
		t.Errorf("Resize after Close: got %v, want ErrClosed", err)
	}
	if s := p.Stats(); s.Rejected != 4 {
		t.Errorf("Rejected = %d, want 4", s.Rejected)
	}
}

func TestCloseReturnsContextErrorWhenTimeRunsOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := workerpool.New(1, 4)
		release := occupy(t, p, 1)
		var ran atomic.Int64
		for range 4 {
			_ = p.TrySubmit(func() { ran.Add(1) })
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
		release()
		// The queue still runs after the timed-out Close; a second Close waits for it.
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ran.Load() != 4 {
			t.Fatalf("%d of 4 queued tasks ran", ran.Load())
		}
	})
}

func TestCloseWakesWaitingSubmitsWithErrClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := workerpool.New(1, 1)
		release := occupy(t, p, 1)
		_ = p.TrySubmit(func() {})
		errc := make(chan error, 3)
		for range 3 {
			go func() { errc <- p.Submit(context.Background(), func() {}) }()
		}
		synctest.Wait() // all three are waiting for room
		closed := make(chan error)
		go func() { closed <- p.Close(context.Background()) }()
		for range 3 {
			if err := <-errc; !errors.Is(err, workerpool.ErrClosed) {
				t.Errorf("waiting submit: got %v, want ErrClosed", err)
			}
		}
		release()
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		checkInvariant(t, p.Stats())
	})
}

func TestCloseRacingSubmitLosesNothing(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	for round := range rounds {
		policy := []workerpool.Overflow{workerpool.Block, workerpool.RejectNew, workerpool.EvictOldest,
			workerpool.BlockTimeout(time.Millisecond)}[round%4]
		var evicted atomic.Int64
		p := workerpool.New(2, 4, workerpool.WithOverflow(policy),
			workerpool.WithOnEvict(func(func(), workerpool.Priority) { evicted.Add(1) }))
		var accepted, ran atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; ; i++ {
					var err error
					if (g+i)%2 == 0 {
						err = p.Submit(context.Background(), func() { ran.Add(1) })
					} else {
						err = p.TrySubmitPriority(workerpool.Priority(i%4-1), func() { ran.Add(1) })
					}
					switch {
					case err == nil:
						accepted.Add(1)
					case errors.Is(err, workerpool.ErrClosed):
						return
					case errors.Is(err, workerpool.ErrQueueFull):
					default:
						t.Errorf("unexpected error %v", err)
						return
					}
				}
			}()
		}
		close(start)
		closeErr := make(chan error, 2)
		go func() { closeErr <- p.Close(context.Background()) }()
		go func() { closeErr <- p.Close(context.Background()) }()
		for range 2 {
			if err := <-closeErr; err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		if got, want := ran.Load()+evicted.Load(), accepted.Load(); got != want {
			t.Fatalf("round %d (%v): %d ran + %d evicted, but %d were accepted", round, policy, ran.Load(), evicted.Load(), want)
		}
		s := p.Stats()
		checkInvariant(t, s)
		if s.Submitted != uint64(accepted.Load()) {
			t.Fatalf("round %d: Submitted %d, accepted %d", round, s.Submitted, accepted.Load())
		}
	}
}

func TestDrainWaitsForQueuedAndRunningTasks(t *testing.T) {
	p := workerpool.New(2, 16)
	closePool(t, p)
	release := occupy(t, p, 2)
	var ran atomic.Int64
	for range 10 {
		_ = p.TrySubmit(func() { ran.Add(1) })
	}
	drained := make(chan error)
	go func() { drained <- p.Drain(context.Background()) }()
	release()
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 10 {
		t.Fatalf("Drain returned after %d of 10 tasks", ran.Load())
	}
	// Still accepting.
	done := make(chan struct{})
	if err := p.Submit(context.Background(), func() { close(done) }); err != nil {
		t.Fatal(err)
	}
	<-done
}

func TestDrainReturnsContextError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := workerpool.New(1, 1)
		release := occupy(t, p, 1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want DeadlineExceeded", err)
		}
		release()
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
