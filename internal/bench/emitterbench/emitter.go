package emitterbench

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/novaevents/nova/internal/bench/benchkit"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// EmitSync measures Emit with one no-op listener, in one goroutine.
func EmitSync(b benchkit.B) {
	em := emitter.New(emitter.Config{})
	defer em.Shutdown(context.Background())
	em.Subscribe("bench.event", benchkit.NoopListener("bench"))
	emitLoop(b, em)
}

// EmitSyncBaseline is the least a synchronous dispatcher can do: load a
// copy-on-write map, look the type up and call the listener through its
// interface.
func EmitSyncBaseline(b benchkit.B) {
	var routes atomic.Pointer[map[string][]shared.Listener]
	m := map[string][]shared.Listener{"bench.event": {benchkit.NoopListener("bench")}}
	routes.Store(&m)
	var ev shared.Event = shared.NewBaseEvent("id", "bench.event", nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N() {
		for _, l := range (*routes.Load())[ev.Type()] {
			if err := l.Handle(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// EmitAsync measures EmitAsync until every event has been handled, on a pool
// of GOMAXPROCS workers. Refused events are reported as drops/op.
func EmitAsync(b benchkit.B) {
	workers := max(2, benchkit.Procs())
	pool := workerpool.New(workers, workers*10)
	defer pool.Close(context.Background())
	em := emitter.New(emitter.Config{WorkerPool: pool, BufferSize: 4096, MaxConcurrency: workers})
	defer em.Shutdown(context.Background())
	d := benchkit.NewDoneCounter(b.N())
	em.Subscribe("bench.event", shared.NewBaseListener("bench", func(shared.Event) error { d.Add(); return nil }))
	ev := shared.NewBaseEvent("id", "bench.event", nil)
	ctx := context.Background()
	var drops int
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N() {
		if err := em.EmitAsync(ctx, ev); err != nil {
			drops++
			d.Add()
		}
	}
	<-d.Done
	b.StopTimer()
	b.ReportMetric(float64(drops)/float64(b.N()), "drops/op")
}

// EmitAsyncBaseline is a buffered channel drained by GOMAXPROCS worker
// goroutines that call the listener, timed until every event is handled.
func EmitAsyncBaseline(b benchkit.B) {
	workers := max(2, benchkit.Procs())
	d := benchkit.NewDoneCounter(b.N())
	l := shared.NewBaseListener("bench", func(shared.Event) error { d.Add(); return nil })
	ch := make(chan shared.Event, 4096)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range ch {
				_ = l.Handle(context.Background(), e)
			}
		}()
	}
	var ev shared.Event = shared.NewBaseEvent("id", "bench.event", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N() {
		ch <- ev
	}
	<-d.Done
	b.StopTimer()
	close(ch)
	wg.Wait()
	b.ReportMetric(0, "drops/op")
}

// EmitSyncManaged is EmitSync with the listener registered with a listener
// manager (default policies: retries on failure, no timeout), to measure what
// the manager costs on the success path.
func EmitSyncManaged(b benchkit.B) {
	lm := listener.NewManager(listener.ManagerConfig{})
	defer lm.Stop(context.Background())
	l := benchkit.NoopListener("bench")
	if err := lm.Register(l, listener.ListenerConfig{}); err != nil {
		b.Fatal(err)
	}
	em := emitter.New(emitter.Config{Listeners: lm})
	defer em.Shutdown(context.Background())
	em.Subscribe("bench.event", l)
	emitLoop(b, em)
}

// emitLoop times b.N() synchronous emits of one event to em.
func emitLoop(b benchkit.B, em *emitter.Emitter) {
	ev := shared.NewBaseEvent("id", "bench.event", nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N() {
		if err := em.Emit(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}
