package workerpool_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/workerpool"
)

func TestOverflowString(t *testing.T) {
	tests := []struct {
		o    workerpool.Overflow
		want string
	}{
		{workerpool.Block, "Block"},
		{workerpool.BlockTimeout(50 * time.Millisecond), "BlockTimeout(50ms)"},
		{workerpool.BlockTimeout(0), "RejectNew"},
		{workerpool.RejectNew, "RejectNew"},
		{workerpool.EvictOldest, "EvictOldest"},
		{workerpool.EvictLowerPriority, "EvictLowerPriority"},
		{workerpool.Overflow{}, "Block"},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestBlockTimeoutGivesUpAfterItsDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = 50 * time.Millisecond
		p := workerpool.New(1, 1, workerpool.WithOverflow(workerpool.BlockTimeout(d)))
		release := occupy(t, p, 1)
		_ = p.TrySubmit(func() {})
		start := time.Now()
		err := p.Submit(context.Background(), func() {})
		if !errors.Is(err, workerpool.ErrQueueFull) {
			t.Fatalf("got %v, want ErrQueueFull", err)
		}
		if waited := time.Since(start); waited != d {
			t.Errorf("waited %v, want %v", waited, d)
		}
		// A shorter ctx wins over the timeout.
		ctx, cancel := context.WithTimeout(context.Background(), d/5)
		defer cancel()
		if err := p.Submit(ctx, func() {}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
		// Room within the timeout: accepted. The waiter (and its timer) is reused.
		errc := make(chan error)
		go func() { errc <- p.Submit(context.Background(), func() {}) }()
		time.Sleep(d / 2)
		release()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s := p.Stats(); s.Rejected != 2 || s.Completed != 3 {
			t.Errorf("Rejected %d, Completed %d; want 2, 3", s.Rejected, s.Completed)
		}
	})
}

// With room in the queue no submit allocates: no timer for BlockTimeout,
// no waiter, nothing per task.
func TestSubmitWithRoomDoesNotAllocate(t *testing.T) {
	policies := []workerpool.Overflow{workerpool.Block, workerpool.BlockTimeout(time.Second),
		workerpool.RejectNew, workerpool.EvictOldest, workerpool.EvictLowerPriority}
	for _, policy := range policies {
		t.Run(policy.String(), func(t *testing.T) {
			p := workerpool.New(1, 1000, workerpool.WithOverflow(policy))
			closePool(t, p)
			release := occupy(t, p, 1)
			defer release()
			task := func() {}
			ctx := context.Background()
			allocs := testing.AllocsPerRun(200, func() {
				_ = p.Submit(ctx, task)
				_ = p.SubmitPriority(ctx, workerpool.PriorityHigh, task)
				_ = p.TrySubmitPriority(workerpool.PriorityLow, task)
			})
			if allocs != 0 {
				t.Errorf("%v allocations per run, want 0", allocs)
			}
		})
	}
}

func TestEvictOldestDropsTheLongestQueuedTask(t *testing.T) {
	var evicted []string
	p := workerpool.New(1, 3, workerpool.WithOverflow(workerpool.EvictOldest),
		workerpool.WithOnEvict(func(task func(), pr workerpool.Priority) { evicted = append(evicted, pr.String()) }))
	release := occupy(t, p, 1)
	var log orderLog
	_ = p.TrySubmitPriority(workerpool.PriorityHigh, log.task(workerpool.PriorityHigh)) // oldest
	_ = p.TrySubmitPriority(workerpool.PriorityLow, log.task(workerpool.PriorityLow))
	_ = p.TrySubmitPriority(workerpool.PriorityNormal, log.task(workerpool.PriorityNormal))
	if err := p.TrySubmitPriority(workerpool.PriorityCritical, log.task(workerpool.PriorityCritical)); err != nil {
		t.Fatal(err)
	}
	release()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(evicted) != 1 || evicted[0] != "high" {
		t.Errorf("evicted %v, want [high]", evicted)
	}
	if got := log.String(); got != "CNL" {
		t.Errorf("ran %s, want CNL", got)
	}
	if s := p.Stats(); s.Evicted != 1 || s.Lane(workerpool.PriorityHigh).Evicted != 1 {
		t.Errorf("Evicted %d (high lane %d), want 1 (1)", s.Evicted, s.Lane(workerpool.PriorityHigh).Evicted)
	}
}

func TestEvictLowerPriorityUsesOneSharedBudget(t *testing.T) {
	var evicted []workerpool.Priority
	p := workerpool.New(1, 4, workerpool.WithOverflow(workerpool.EvictLowerPriority),
		workerpool.WithOnEvict(func(task func(), pr workerpool.Priority) { evicted = append(evicted, pr) }))
	release := occupy(t, p, 1)
	var log orderLog
	submit := func(pr workerpool.Priority) error { return p.TrySubmitPriority(pr, log.task(pr)) }
	for _, pr := range []workerpool.Priority{workerpool.PriorityLow, workerpool.PriorityNormal, workerpool.PriorityLow, workerpool.PriorityNormal} {
		if err := submit(pr); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		pr          workerpool.Priority
		wantErr     error
		wantEvicted []workerpool.Priority
	}{
		{workerpool.PriorityHigh, nil, []workerpool.Priority{workerpool.PriorityLow}},
		{workerpool.PriorityHigh, nil, []workerpool.Priority{workerpool.PriorityLow, workerpool.PriorityLow}},
		{workerpool.PriorityHigh, nil, []workerpool.Priority{workerpool.PriorityLow, workerpool.PriorityLow, workerpool.PriorityNormal}},
		{workerpool.PriorityNormal, workerpool.ErrQueueFull, nil}, // only a normal and high tasks are left
		{workerpool.PriorityLow, workerpool.ErrQueueFull, nil},
	}
	for i, s := range steps {
		err := submit(s.pr)
		if !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) {
			t.Fatalf("step %d (%v): got %v, want %v", i, s.pr, err, s.wantErr)
		}
		if s.wantEvicted != nil && len(evicted) != len(s.wantEvicted) {
			t.Fatalf("step %d: evicted %v, want %v", i, evicted, s.wantEvicted)
		}
	}
	release()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := log.String(); got != "HHHN" {
		t.Errorf("ran %s, want HHHN", got)
	}
}

// Seed 002's "drop oldest" received from the channel, then sent to it: when
// another producer took the freed place in between, the send blocked for
// good. Here many producers evict concurrently on a full queue with no
// worker free: every call must return, and every task be either run or
// handed to OnEvict. In the bubble a hang shows up as a deadlock.
func TestEvictOldestNeverHangsUnderConcurrentProducers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const producers, each, capacity = 8, 300, 4
		var evicted, ran atomic.Int64
		p := workerpool.New(1, capacity, workerpool.WithOverflow(workerpool.EvictOldest),
			workerpool.WithOnEvict(func(func(), workerpool.Priority) { evicted.Add(1) }))
		release := occupy(t, p, 1)
		var wg sync.WaitGroup
		for g := range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					var err error
					if (g+i)%2 == 0 {
						err = p.Submit(context.Background(), func() { ran.Add(1) })
					} else {
						err = p.TrySubmitPriority(workerpool.Priority(i%4-1), func() { ran.Add(1) })
					}
					if err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		if got, want := evicted.Load(), int64(producers*each-capacity); got != want {
			t.Errorf("evicted %d, want %d", got, want)
		}
		release()
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ran.Load() != capacity {
			t.Errorf("%d tasks ran, want the %d left in the queue", ran.Load(), capacity)
		}
		checkInvariant(t, p.Stats())
	})
}

// Seed 002 fell back to `go handler(e)` when the queue was full, which
// brings back one goroutine per event. Whatever the policy, flooding a
// pool whose workers are all busy must not add goroutines.
func TestOverflowNeverStartsGoroutines(t *testing.T) {
	policies := []workerpool.Overflow{workerpool.Block, workerpool.BlockTimeout(time.Millisecond),
		workerpool.RejectNew, workerpool.EvictOldest, workerpool.EvictLowerPriority}
	for _, policy := range policies {
		t.Run(policy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const workers = 4
				p := workerpool.New(workers, 16, workerpool.WithOverflow(policy))
				release := occupy(t, p, workers)
				before := runtime.NumGoroutine()
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				defer cancel()
				hold := make(chan struct{}) // a goroutine started for a task would stay
				task := func() { <-hold }
				for i := range 10_000 {
					if i%2 == 0 {
						_ = p.TrySubmitPriority(workerpool.Priority(i%4-1), task)
					} else {
						_ = p.SubmitPriority(ctx, workerpool.Priority(i%4-1), task)
					}
				}
				if after := runtime.NumGoroutine(); after > before {
					t.Errorf("goroutines went from %d to %d while the queue overflowed", before, after)
				}
				close(hold)
				release()
				if err := p.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
