package emitter_test

// The snippets of the seed documents that use this package, with only their
// placeholders filled in, must compile and behave as the seeds say.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// Seed 001's end-to-end test: an emitter on a two-worker pool, one
// listener on "test.event", one event emitted, and the listener must have
// seen that very event.
func TestSeedEventFlow(t *testing.T) {
	ctx := context.Background()
	workers := workerpool.New(2, 100)
	defer workers.Close(ctx)
	em := emitter.New(emitter.Config{WorkerPool: workers})
	defer em.Shutdown(ctx)

	seen := make(chan shared.Event, 1)
	em.Subscribe("test.event", shared.NewBaseListener("test", func(got shared.Event) error {
		seen <- got
		return nil
	}))

	sent := shared.NewBaseEvent("test-1", "test.event", "data")
	if err := em.Emit(ctx, sent); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	// Emit is synchronous: by the time it returns the listener has run, so
	// there is nothing to wait for.
	select {
	case got := <-seen:
		if got.ID() != sent.ID() {
			t.Errorf("listener saw event %q, want %q", got.ID(), sent.ID())
		}
	default:
		t.Error("Emit returned before the listener saw the event")
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

// Seed 000's handler benchmark: Emit of one event to a no-op listener, from
// parallel goroutines, on an emitter with a four-worker pool.
func BenchmarkSeedMyHandler(b *testing.B) {
	ctx := context.Background()
	workers := workerpool.New(4, 1000)
	defer workers.Close(ctx)
	em := emitter.New(emitter.Config{WorkerPool: workers})
	defer em.Shutdown(ctx)
	em.Subscribe("bench.event", shared.NewBaseListener("bench", func(shared.Event) error { return nil }))
	sent := shared.NewBaseEvent("id", "bench.event", nil)
	var failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if em.Emit(ctx, sent) != nil {
				failed.Add(1)
			}
		}
	})
	if n := failed.Load(); n != 0 {
		b.Fatalf("%d Emit calls failed", n)
	}
}
