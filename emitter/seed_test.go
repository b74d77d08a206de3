package emitter_test

// The snippets of the seed documents that use this package, with only their
// placeholders filled in, must compile and behave as the seeds say.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// Seed 001, "TestEventFlow".
func TestSeedEventFlow(t *testing.T) {
	ctx := context.Background()
	pool := workerpool.New(2, 100)
	defer pool.Close(ctx)
	em := emitter.New(emitter.Config{WorkerPool: pool})
	defer em.Shutdown(ctx)

	received := make(chan shared.Event, 1)
	listener := shared.NewBaseListener("test", func(event shared.Event) error {
		received <- event
		return nil
	})
	em.Subscribe("test.event", listener)

	event := shared.NewBaseEvent("test-1", "test.event", "data")
	if err := em.Emit(ctx, event); err != nil {
		t.Fatalf("Emit failed: %v", err)
	}
	select {
	case e := <-received:
		if e.ID() != event.ID() {
			t.Errorf("got event ID %s, want %s", e.ID(), event.ID())
		}
	case <-time.After(time.Second):
		t.Error("timeout waiting for event")
	}
}

// Seed 000, event pooling: a reset zero BaseEvent is reusable.
var eventPool = sync.Pool{New: func() any { return &shared.BaseEvent{} }}

func getEvent() *shared.BaseEvent { return eventPool.Get().(*shared.BaseEvent) }

func putEvent(e *shared.BaseEvent) {
	*e = shared.BaseEvent{}
	eventPool.Put(e)
}

func TestSeedEventPooling(t *testing.T) {
	em := newEmitter(t, emitter.Config{})
	var r recorder
	em.Subscribe("pooled", r.listener("l"))
	for i := range 3 {
		e := getEvent()
		if err := em.Emit(context.Background(), e); err == nil {
			t.Fatal("a zero BaseEvent must be refused, not delivered")
		}
		e.Reset(fmt.Sprint("p", i), "pooled", i)
		e.SetMetadata("n", fmt.Sprint(i))
		if err := em.Emit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		putEvent(e)
	}
	if got := r.got(); len(got) != 3 || got[2] != "p2" {
		t.Errorf("got %v", got)
	}
}

// Seed 001, logging and tracing middleware: BeforeFunc and AfterFunc hooks,
// and a Before hook that adds metadata the listeners then see.
func TestSeedMiddleware(t *testing.T) {
	em := newEmitter(t, emitter.Config{})
	var logged []string
	loggingMW := shared.MiddlewareFunc{
		BeforeFunc: func(event shared.Event) error {
			logged = append(logged, "processing "+event.ID())
			return nil
		},
		AfterFunc: func(event shared.Event, err error) error {
			if err != nil {
				logged = append(logged, "failed "+event.ID())
			} else {
				logged = append(logged, "processed "+event.ID())
			}
			return nil
		},
	}
	tracingMW := shared.MiddlewareFunc{
		BeforeFunc: func(event shared.Event) error {
			if be, ok := event.(*shared.BaseEvent); ok {
				be.SetMetadata("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")
			}
			return nil
		},
	}
	em.Middleware(loggingMW, tracingMW)
	traceID := make(chan string, 1)
	em.Subscribe("order.created", shared.NewBaseListener("traced-handler", func(event shared.Event) error {
		traceID <- event.Metadata()["trace_id"]
		return nil
	}))
	if err := em.Emit(context.Background(), shared.NewBaseEvent("o-1", "order.created", nil)); err != nil {
		t.Fatal(err)
	}
	if id := <-traceID; id == "" {
		t.Error("listener did not see the metadata set by middleware")
	}
	if len(logged) != 2 || logged[1] != "processed o-1" {
		t.Errorf("logged %v", logged)
	}
}

// Seed 000, "BenchmarkMyHandler", verbatim but for its name.
func BenchmarkSeedMyHandler(b *testing.B) {
	ctx := context.Background()
	pool := workerpool.New(4, 1000)
	defer pool.Close(ctx)
	em := emitter.New(emitter.Config{WorkerPool: pool})
	defer em.Shutdown(ctx)
	handler := shared.NewBaseListener("bench", func(e shared.Event) error {
		return nil
	})
	em.Subscribe("bench.event", handler)
	event := shared.NewBaseEvent("id", "bench.event", nil)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			em.Emit(ctx, event)
		}
	})
}
