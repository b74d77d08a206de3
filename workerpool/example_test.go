package workerpool_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/novaevents/nova/workerpool"
)

func Example() {
	ctx := context.Background()
	pool := workerpool.New(4, 100)

	var mu sync.Mutex
	total := 0
	for i := 1; i <= 10; i++ {
		err := pool.Submit(ctx, func() {
			mu.Lock()
			total += i
			mu.Unlock()
		})
		if err != nil {
			fmt.Println("submit:", err)
		}
	}
	if err := pool.Close(ctx); err != nil { // runs every queued task first
		fmt.Println("close:", err)
	}
	fmt.Println("total:", total)
	fmt.Println("completed:", pool.Stats().Completed)
	fmt.Println("after close:", pool.Submit(ctx, func() {}))
	// Output:
	// total: 55
	// completed: 10
	// after close: workerpool: closed
}

func ExamplePool_SubmitPriority() {
	ctx := context.Background()
	pool := workerpool.New(1, 100)

	// Hold the only worker so that the lanes fill up, then let go.
	hold, running := make(chan struct{}), make(chan struct{})
	_ = pool.Submit(ctx, func() { close(running); <-hold })
	<-running
	var order []string
	for _, pr := range []workerpool.Priority{workerpool.PriorityLow, workerpool.PriorityNormal, workerpool.PriorityHigh, workerpool.PriorityCritical} {
		_ = pool.SubmitPriority(ctx, pr, func() { order = append(order, pr.String()) })
	}
	close(hold)
	_ = pool.Close(ctx)
	fmt.Println(order)
	// Output: [critical high normal low]
}

func ExampleWithOverflow() {
	ctx := context.Background()
	var evicted []string
	pool := workerpool.New(1, 2,
		workerpool.WithOverflow(workerpool.EvictLowerPriority),
		workerpool.WithOnEvict(func(task func(), pr workerpool.Priority) {
			evicted = append(evicted, pr.String())
		}))
	hold, running := make(chan struct{}), make(chan struct{})
	_ = pool.Submit(ctx, func() { close(running); <-hold })
	<-running
	_ = pool.TrySubmitPriority(workerpool.PriorityLow, func() {})
	_ = pool.TrySubmitPriority(workerpool.PriorityNormal, func() {})

	fmt.Println(pool.TrySubmitPriority(workerpool.PriorityHigh, func() {})) // evicts the low task
	err := pool.TrySubmitPriority(workerpool.PriorityLow, func() {})        // nothing lower to evict
	fmt.Println(errors.Is(err, workerpool.ErrQueueFull))
	close(hold)
	_ = pool.Close(ctx)
	fmt.Println("evicted:", evicted, "count:", pool.Stats().Evicted)
	// Output:
	// <nil>
	// true
	// evicted: [low] count: 1
}

func ExampleRecommend() {
	// 2 000 events/s of I/O-bound work taking 20ms each, bursts of 250ms.
	r := workerpool.Recommend(workerpool.WorkloadIO, 2000, 250*time.Millisecond, 20*time.Millisecond)
	fmt.Println("workers:", r.Workers >= 50, "queue:", r.QueueSize, "saturated:", r.Saturated)
	// Output: workers: true queue: 500 saturated: false
}
