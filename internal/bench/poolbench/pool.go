package poolbench

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/novaevents/nova/internal/bench/benchkit"

	"github.com/novaevents/nova/workerpool"
)

// The pool benchmarks run on max(2, GOMAXPROCS) workers with a queue of
// poolQueue tasks, and time b.N() tasks from the first submit until the last
// one has run. Their baseline is the least a pool can be: a buffered
// channel of func() drained by the same number of goroutines.
const poolQueue = 1024

func poolWorkers() int { return max(2, benchkit.Procs()) }

// PoolSubmit measures Pool.Submit into the normal lane (one lane), from one
// goroutine, until every task has run.
func PoolSubmit(b benchkit.B) {
	poolRun(b, []workerpool.Priority{workerpool.PriorityNormal}, false)
}

// PoolThreeLanes is PoolSubmit with the tasks spread over the high, normal
// and low lanes in turn, so the workers schedule by weighted round robin.
func PoolThreeLanes(b benchkit.B) {
	poolRun(b, []workerpool.Priority{workerpool.PriorityHigh, workerpool.PriorityNormal, workerpool.PriorityLow}, false)
}

// PoolSubmitParallel is PoolSubmit from GOMAXPROCS submitting goroutines.
func PoolSubmitParallel(b benchkit.B) {
	poolRun(b, []workerpool.Priority{workerpool.PriorityNormal}, true)
}

func poolRun(b benchkit.B, lanes []workerpool.Priority, parallel bool) {
	ctx := context.Background()
	pool := workerpool.New(poolWorkers(), poolQueue)
	defer pool.Close(ctx)
	c := benchkit.NewDoneCounter(b.N())
	task := c.Add
	var drops atomic.Int64
	submit := func(i int) {
		if err := pool.SubmitPriority(ctx, lanes[i%len(lanes)], task); err != nil {
			drops.Add(1)
			c.Add()
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb benchkit.PB) {
			for i := 0; pb.Next(); i++ {
				submit(i)
			}
		})
	} else {
		for i := range b.N() {
			submit(i)
		}
	}
	<-c.Done
	b.StopTimer()
	b.ReportMetric(float64(drops.Load())/float64(b.N()), "drops/op")
}

// ChannelBaseline is the baseline of the pool benchmarks: a buffered chan
// func() of the same size, drained by the same number of goroutines, timed
// until every task has run.
func ChannelBaseline(b benchkit.B) { channelRun(b, false) }

// ChannelBaselineParallel is ChannelBaseline from GOMAXPROCS submitting
// goroutines, the baseline of PoolSubmitParallel.
func ChannelBaselineParallel(b benchkit.B) { channelRun(b, true) }

func channelRun(b benchkit.B, parallel bool) {
	ch := make(chan func(), poolQueue)
	var wg sync.WaitGroup
	for range poolWorkers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range ch {
				f()
			}
		}()
	}
	defer func() { close(ch); wg.Wait() }()
	c := benchkit.NewDoneCounter(b.N())
	task := c.Add
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb benchkit.PB) {
			for pb.Next() {
				ch <- task
			}
		})
	} else {
		for range b.N() {
			ch <- task
		}
	}
	<-c.Done
	b.StopTimer()
	b.ReportMetric(0, "drops/op")
}
