package workerpool_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/novaevents/nova/workerpool"
)

func TestDynamicPoolStartsWorkersOnDemandUpToItsSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := workerpool.New(4, 16, workerpool.WithMinWorkers(1))
		synctest.Wait()
		if s := p.Stats(); s.Workers != 1 || s.MinWorkers != 1 || s.MaxWorkers != 4 {
			t.Fatalf("at start: Workers %d, Min %d, Max %d; want 1, 1, 4", s.Workers, s.MinWorkers, s.MaxWorkers)
		}
		release := occupy(t, p, 4) // needs four workers running at once
		for range 8 {
			_ = p.TrySubmit(func() {})
		}
		if s := p.Stats(); s.Workers != 4 || s.Running != 4 || s.Queued != 8 {
			t.Errorf("busy: Workers %d, Running %d, Queued %d; want 4, 4, 8", s.Workers, s.Running, s.Queued)
		}
		release()
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// Workers above the minimum retire after the idle timeout, in the bubble's
// fake time, and their goroutines are gone.
func TestIdleWorkersRetireDownToTheMinimum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 10 * time.Second
		base := runtime.NumGoroutine()
		p := workerpool.New(6, 16, workerpool.WithMinWorkers(2), workerpool.WithIdleTimeout(idle))
		release := occupy(t, p, 6)
		release()
		synctest.Wait()
		if s := p.Stats(); s.Workers != 6 || s.IdleWorkers != 6 {
			t.Fatalf("after the burst: Workers %d, Idle %d; want 6, 6", s.Workers, s.IdleWorkers)
		}
		time.Sleep(idle - time.Millisecond)
		synctest.Wait()
		if s := p.Stats(); s.Workers != 6 {
			t.Fatalf("before the idle timeout: Workers %d, want 6", s.Workers)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if s := p.Stats(); s.Workers != 2 {
			t.Fatalf("after the idle timeout: Workers %d, want 2", s.Workers)
		}
		if got := runtime.NumGoroutine() - base; got != 2 {
			t.Errorf("%d worker goroutines left, want 2", got)
		}
		// Still works, and grows again.
		release = occupy(t, p, 5)
		release()
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := runtime.NumGoroutine() - base; got != 0 {
			t.Errorf("%d goroutines left after Close", got)
		}
	})
}

// A worker reused before its timeout is not retired: the timer is rearmed
// for the next one due.
func TestRecentlyUsedWorkersAreKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 10 * time.Second
		p := workerpool.New(3, 16, workerpool.WithMinWorkers(1), workerpool.WithIdleTimeout(idle))
		release := occupy(t, p, 3)
		release()
		time.Sleep(idle / 2)
		release = occupy(t, p, 2) // reuses the two workers parked last
		release()
		time.Sleep(idle/2 + time.Millisecond)
		synctest.Wait()
		if s := p.Stats(); s.Workers != 2 {
			t.Errorf("Workers %d, want 2 (one retired, two used %v ago)", s.Workers, idle/2)
		}
		time.Sleep(idle / 2)
		synctest.Wait()
		if s := p.Stats(); s.Workers != 1 {
			t.Errorf("Workers %d, want the minimum 1", s.Workers)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestResize(t *testing.T) {
	t.Run("a static pool grows and shrinks to the new size", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := runtime.NumGoroutine()
			p := workerpool.New(2, 8)
			if err := p.Resize(5); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if s := p.Stats(); s.Workers != 5 || p.Workers() != 5 || runtime.NumGoroutine()-base != 5 {
				t.Fatalf("after Resize(5): %d workers, %d goroutines", s.Workers, runtime.NumGoroutine()-base)
			}
			release := occupy(t, p, 5)
			if err := p.Resize(1); err != nil {
				t.Fatal(err)
			}
			release() // busy workers above the size stop after their task
			synctest.Wait()
			if s := p.Stats(); s.Workers != 1 || runtime.NumGoroutine()-base != 1 {
				t.Fatalf("after Resize(1): %d workers, %d goroutines", s.Workers, runtime.NumGoroutine()-base)
			}
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("growing starts workers for queued tasks", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := workerpool.New(1, 8, workerpool.WithMinWorkers(0))
			release := occupy(t, p, 1)
			defer release()
			var wg sync.WaitGroup
			wg.Add(3)
			for range 3 {
				_ = p.TrySubmit(wg.Done)
			}
			if err := p.Resize(4); err != nil {
				t.Fatal(err)
			}
			wg.Wait() // ran while the first worker is still busy
			release()
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("a size below one is refused", func(t *testing.T) {
		p := workerpool.New(1, 1)
		closePool(t, p)
		for _, n := range []int{0, -1} {
			if err := p.Resize(n); !errors.Is(err, workerpool.ErrInvalidSize) {
				t.Errorf("Resize(%d): got %v, want ErrInvalidSize", n, err)
			}
		}
	})
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	p := workerpool.New(8, 64, workerpool.WithMinWorkers(2), workerpool.WithIdleTimeout(time.Hour))
	release := occupy(t, p, 8)
	release()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, goleak.IgnoreCurrent())
}
