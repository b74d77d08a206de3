package workerpool_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novaevents/nova/workerpool"
)

// Everything at once, on a dynamic pool: producers with every priority,
// tasks that submit to their own pool, panic or call runtime.Goexit, Resize
// and Drain from outside, then Close racing it all. Whatever happens, every
// accepted task runs or is evicted exactly once and the counters add up.
func TestChaosKeepsEveryAcceptedTask(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 5
	}
	policies := []workerpool.Overflow{workerpool.Block, workerpool.BlockTimeout(100 * time.Microsecond),
		workerpool.RejectNew, workerpool.EvictOldest, workerpool.EvictLowerPriority}
	for round := range rounds {
		policy := policies[round%len(policies)]
		t.Run(fmt.Sprintf("round %d %v", round, policy), func(t *testing.T) {
			var accepted, finished, evicted, attempts atomic.Int64
			p := workerpool.New(4, 8, workerpool.WithOverflow(policy), workerpool.WithMinWorkers(1),
				workerpool.WithIdleTimeout(time.Millisecond), workerpool.WithTiming(),
				workerpool.WithOnEvict(func(func(), workerpool.Priority) { evicted.Add(1) }))
			var submit func(rng *rand.Rand, depth int)
			task := func(rng *rand.Rand, depth int) func() {
				kind := rng.IntN(20)
				return func() {
					defer finished.Add(1)
					switch {
					case kind == 0:
						panic("chaos")
					case kind == 1:
						runtime.Goexit()
					case kind < 5 && depth < 2:
						submit(rand.New(rand.NewPCG(uint64(kind), uint64(depth))), depth+1)
					}
				}
			}
			submit = func(rng *rand.Rand, depth int) {
				attempts.Add(1)
				pr := workerpool.Priority(rng.IntN(4) - 1)
				var err error
				if rng.IntN(2) == 0 {
					err = p.SubmitPriority(context.Background(), pr, task(rng, depth))
				} else {
					err = p.TrySubmitPriority(pr, task(rng, depth))
				}
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, workerpool.ErrQueueFull), errors.Is(err, workerpool.ErrClosed):
				default:
					t.Errorf("submit: %v", err)
				}
			}
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(round), uint64(g)))
					for range 300 {
						submit(rng, 0)
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(round), 99))
				for range 20 {
					_ = p.Resize(1 + rng.IntN(6))
					ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
					_ = p.Drain(ctx)
					cancel()
				}
			}()
			wg.Add(1)
			go func() { // Close while the rest is going on, sooner or later
				defer wg.Done()
				for attempts.Load() < int64(round%3*400) {
					runtime.Gosched()
				}
				_ = p.Close(context.Background())
			}()
			wg.Wait()
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			s := p.Stats()
			t.Logf("submitted %d, completed %d, failed %d, inline %d, evicted %d, rejected %d",
				s.Submitted, s.Completed, s.Failed, s.Inline, s.Evicted, s.Rejected)
			checkInvariant(t, s)
			if got, want := finished.Load()+evicted.Load(), accepted.Load(); got != want || s.Submitted != uint64(want) {
				t.Errorf("%d finished + %d evicted = %d, accepted %d, Submitted %d", finished.Load(), evicted.Load(), got, want, s.Submitted)
			}
			if s.Completed != uint64(finished.Load()) || s.Workers != 0 || s.Running != 0 || s.Queued != 0 {
				t.Errorf("after Close: %+v (finished %d)", s, finished.Load())
			}
		})
	}
}
