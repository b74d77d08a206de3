package listener_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// The bar: a managed listener on the success path costs at most 1.5x
// an unmanaged one, with no extra allocation. "unmanaged" is how Nova's
// dispatchers call a listener without a manager: shared.SafeHandle (panic
// recovery). "attempt" goes through Manager.Attempt with the listener
// registered with a retry policy and dead letters but no limit, timeout or
// breaker. "order-processor" does what the seed's idempotent handler does,
// in memory: a lookup of the event ID and a metadata read under a lock;
// "empty-handler" shows the manager's own cost in ns, which no real handler
// is small enough to make a ratio of.
//
//	go test -run '^$' -bench 'Attempt' -benchmem -count 6 ./listener/ | benchstat -

type orderProcessor struct {
	mu        sync.Mutex
	processed map[string]bool
}

func newOrderProcessor() *orderProcessor {
	p := &orderProcessor{processed: make(map[string]bool, 1024)}
	for i := range 1000 {
		p.processed["order-"+string(rune('a'+i%26))+string(rune('a'+i/26))] = true
	}
	return p
}

func (p *orderProcessor) ID() string { return "order-processor" }
func (p *orderProcessor) Handle(_ context.Context, e shared.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.processed[e.ID()] && e.Metadata()["customer_id"] == "" {
		return errBoom
	}
	return nil
}

type nop struct{}

func (nop) ID() string                                 { return "nop" }
func (nop) Handle(context.Context, shared.Event) error { return nil }

func benchEvent() shared.Event {
	return shared.NewBaseEventWithMetadata("order-zz", "order.created", nil, map[string]string{"customer_id": "c-7"})
}

func reportFailures(b *testing.B, failed int64) {
	b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
}

func BenchmarkAttemptSuccessPath(b *testing.B) {
	ctx := context.Background()
	e := benchEvent()
	for _, tc := range []struct {
		name string
		l    shared.Listener
	}{
		{"order-processor", newOrderProcessor()},
		{"empty-handler", nop{}},
	} {
		b.Run(tc.name+"/unmanaged", func(b *testing.B) {
			b.ReportAllocs()
			var failed int64
			for b.Loop() {
				if shared.SafeHandle(ctx, tc.l, e) != nil {
					failed++
				}
			}
			reportFailures(b, failed)
		})
		b.Run(tc.name+"/attempt", func(b *testing.B) {
			m := listener.NewManager(listener.ManagerConfig{})
			defer m.Stop(ctx)
			if err := m.Register(tc.l, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true}}); err != nil {
				b.Fatal(err)
			}
			rt := mustRoute(b, m, tc.l)
			b.ReportAllocs()
			var failed int64
			for b.Loop() {
				if rt.Attempt(ctx, e, 1).Err != nil {
					failed++
				}
			}
			reportFailures(b, failed)
		})
		b.Run(tc.name+"/attempt-all-policies", func(b *testing.B) {
			m := listener.NewManager(listener.ManagerConfig{})
			defer m.Stop(ctx)
			err := m.Register(tc.l, listener.ListenerConfig{
				Concurrency: 64,
				Circuit:     listener.CircuitConfig{Enabled: true},
				DeadLetter:  listener.DeadLetterConfig{Enabled: true},
			})
			if err != nil {
				b.Fatal(err)
			}
			rt := mustRoute(b, m, tc.l)
			b.ReportAllocs()
			var failed int64
			for b.Loop() {
				if rt.Attempt(ctx, e, 1).Err != nil {
					failed++
				}
			}
			reportFailures(b, failed)
		})
	}
}

func BenchmarkAttemptWithTimeout(b *testing.B) {
	ctx := context.Background()
	e := benchEvent()
	l := newOrderProcessor()
	m := listener.NewManager(listener.ManagerConfig{})
	defer m.Stop(ctx)
	_ = m.Register(l, listener.ListenerConfig{Timeout: time.Second})
	rt := mustRoute(b, m, l)
	b.ReportAllocs()
	var failed int64
	for b.Loop() {
		if rt.Attempt(ctx, e, 1).Err != nil {
			failed++
		}
	}
	reportFailures(b, failed)
}

func BenchmarkAttemptParallel(b *testing.B) {
	ctx := context.Background()
	e := benchEvent()
	l := nop{}
	m := listener.NewManager(listener.ManagerConfig{})
	defer m.Stop(ctx)
	_ = m.Register(l, listener.ListenerConfig{})
	rt := mustRoute(b, m, l)
	b.ReportAllocs()
	var failed atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rt.Attempt(ctx, e, 1).Err != nil {
				failed.Add(1)
			}
		}
	})
	reportFailures(b, failed.Load())
}

func mustRoute(tb testing.TB, m *listener.Manager, l shared.Listener) *listener.Route {
	tb.Helper()
	rt, err := m.Route(l, listener.RouteConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	return rt
}
