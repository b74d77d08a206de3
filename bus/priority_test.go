package bus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// A flood of log.line events spread over many partitions queues many
// drainers on the pool. With priorities, the drainer of process.exited
// overtakes them all: it waits at most for the batch that is running.
func TestFloodOfLogTopicsDoesNotDelayProcessEvents(t *testing.T) {
	const partitions, perPartition, batch = 8, 300, 256
	for _, tt := range []struct {
		name     string
		priority bool
	}{
		{"with priorities process.exited waits at most one drain batch", true},
		{"without priorities it waits behind every queued partition (the control)", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := workerpool.New(1, 64)
			defer pool.Close(context.Background())
			b := bus.New(bus.Config{WorkerPool: pool})
			logs := bus.TopicConfig{Partitions: partitions, BufferSize: perPartition * 2,
				OrderingKey: func(e shared.Event) string { return e.Metadata()["k"] }}
			procs := bus.TopicConfig{Partitions: 1}
			if tt.priority {
				logs.Priority = func(shared.Event) workerpool.Priority { return workerpool.PriorityLow }
				procs.Priority = func(shared.Event) workerpool.Priority { return workerpool.PriorityHigh }
			}
			mustCreate(t, b, "logs", logs)
			mustCreate(t, b, "process", procs)
			gate := make(chan struct{})
			var once sync.Once
			var mu sync.Mutex
			var order []string
			rec := shared.NewBaseListener("rec", func(e shared.Event) error {
				once.Do(func() { <-gate })
				mu.Lock()
				order = append(order, e.Type())
				mu.Unlock()
				return nil
			})
			mustSubscribe(t, b, "logs", rec)
			mustSubscribe(t, b, "process", rec)
			// Subscribing wakes each lane once; let those drainers finish so
			// the test starts from an idle pool.
			if err := pool.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			for i := range partitions * perPartition {
				e := shared.NewBaseEventWithMetadata(fmt.Sprint("l", i), "log.line", nil, map[string]string{"k": fmt.Sprint(i % 64)})
				mustPublish(t, b, "logs", e)
			}
			mustPublish(t, b, "process", shared.NewBaseEvent("exit", "process.exited", nil))
			close(gate)
			shutdown(t, b)
			ahead := -1
			for i, typ := range order {
				if typ == "process.exited" {
					ahead = i
					break
				}
			}
			if tt.priority && (ahead < 0 || ahead > batch) {
				t.Errorf("%d log lines ran before process.exited, want at most one batch (%d)", ahead, batch)
			}
			if !tt.priority && ahead <= 2*batch {
				t.Errorf("control: only %d log lines ran first; the test does not show what priorities change", ahead)
			}
		})
	}
}

// A shared pool whose policy evicts tasks must never evict the bus's
// drainers: that would strand a partition's events.
func TestEvictingPoolNeverStrandsBusEvents(t *testing.T) {
	pool := workerpool.New(1, 1, workerpool.WithOverflow(workerpool.EvictOldest))
	defer pool.Close(context.Background())
	b := bus.New(bus.Config{WorkerPool: pool})
	mustCreate(t, b, "t", bus.TopicConfig{Partitions: 4, BufferSize: 16})
	var mu sync.Mutex
	handled := 0
	mustSubscribe(t, b, "t", shared.NewBaseListener("l", func(shared.Event) error { mu.Lock(); handled++; mu.Unlock(); return nil }))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = pool.TrySubmit(func() {}) // another user of the pool, evicting
			}
		}
	}()
	for i := range 2000 {
		mustPublish(t, b, "t", shared.NewBaseEvent(fmt.Sprint(i), "x", nil))
	}
	close(stop)
	wg.Wait()
	shutdown(t, b)
	if handled != 2000 {
		t.Errorf("handled %d of 2000", handled)
	}
}
