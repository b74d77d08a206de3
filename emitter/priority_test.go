package emitter_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// Seed 002's table: process.exited is urgent, log.line is not. With a
// Priority function a backlog of log lines cannot hold process.exited back.
func TestFloodOfLowPriorityEventsDoesNotDelayUrgentOnes(t *testing.T) {
	byType := func(e shared.Event) workerpool.Priority {
		switch e.Type() {
		case "process.exited":
			return workerpool.PriorityHigh
		case "log.line":
			return workerpool.PriorityLow
		}
		return workerpool.PriorityNormal
	}
	for _, tt := range []struct {
		name     string
		priority func(shared.Event) workerpool.Priority
		maxAhead int // log lines handled before process.exited
	}{
		{"with priorities the urgent event overtakes the backlog", byType, 1},
		{"without priorities it waits behind the whole backlog (the control)", nil, 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := workerpool.New(1, 8)
			defer pool.Close(context.Background())
			em := emitter.New(emitter.Config{WorkerPool: pool, MaxConcurrency: 1, BufferSize: 2000, Priority: tt.priority})
			gate := make(chan struct{})
			entered := make(chan struct{})
			var once sync.Once
			var mu sync.Mutex
			var order []string
			record := shared.NewBaseListener("recorder", func(e shared.Event) error {
				// Hold the only drainer, inside the handler of "first", until
				// the flood is queued.
				once.Do(func() { close(entered); <-gate })
				mu.Lock()
				order = append(order, e.Type())
				mu.Unlock()
				return nil
			})
			em.Subscribe("log.line", record)
			em.Subscribe("process.exited", record)
			ctx := context.Background()
			_ = em.EmitAsync(ctx, shared.NewBaseEvent("first", "log.line", nil))
			<-entered // "first" has left the buffer: the drainer is held
			for i := range 1000 {
				if err := em.EmitAsync(ctx, shared.NewBaseEvent(fmt.Sprint("l", i), "log.line", nil)); err != nil {
					t.Fatal(err)
				}
			}
			_ = em.EmitAsync(ctx, shared.NewBaseEvent("exit", "process.exited", nil))
			close(gate)
			if err := em.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			ahead := -1
			for i, typ := range order {
				if typ == "process.exited" {
					ahead = i - 1 // not counting the "first" event that held the drainer
					break
				}
			}
			if ahead < 0 || ahead > tt.maxAhead || (tt.priority == nil && ahead != 1000) {
				t.Errorf("%d log lines were handled before process.exited (want at most %d)", ahead, tt.maxAhead)
			}
			if len(order) != 1002 {
				t.Errorf("handled %d of 1002 events", len(order))
			}
		})
	}
}

func TestLowPriorityLaneIsNotStarved(t *testing.T) {
	pool := workerpool.New(1, 8)
	defer pool.Close(context.Background())
	em := emitter.New(emitter.Config{WorkerPool: pool, MaxConcurrency: 1, BufferSize: 500,
		Priority: func(e shared.Event) workerpool.Priority {
			if e.Type() == "low" {
				return workerpool.PriorityLow
			}
			return workerpool.PriorityHigh
		}})
	gate := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	var order []string
	l := shared.NewBaseListener("r", func(e shared.Event) error {
		once.Do(func() { close(entered); <-gate })
		order = append(order, e.Type())
		return nil
	})
	em.Subscribe("low", l)
	em.Subscribe("high", l)
	ctx := context.Background()
	_ = em.EmitAsync(ctx, shared.NewBaseEvent("hold", "high", nil))
	<-entered // "hold" is in the handler: what follows queues behind it
	_ = em.EmitAsync(ctx, shared.NewBaseEvent("low-1", "low", nil))
	for i := range 200 {
		_ = em.EmitAsync(ctx, shared.NewBaseEvent(fmt.Sprint(i), "high", nil))
	}
	close(gate)
	_ = em.Shutdown(ctx)
	for i, typ := range order {
		if typ == "low" {
			if i > 13 {
				t.Errorf("the low event waited %d takes behind high ones, bound is 12", i-1)
			}
			return
		}
	}
	t.Error("the low event was never handled")
}
