package emitter_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// metricsLog records the Metrics calls it receives, one line each.
type metricsLog struct {
	shared.NopMetrics
	mu    sync.Mutex
	lines []string
}

func (m *metricsLog) add(format string, args ...any) {
	m.mu.Lock()
	m.lines = append(m.lines, fmt.Sprintf(format, args...))
	m.mu.Unlock()
}

func (m *metricsLog) got() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.lines)
}

func (m *metricsLog) EventEmitted(component, eventType string, err error) {
	m.add("emitted %s %s err=%v", component, eventType, err != nil)
}

func (m *metricsLog) EventHandled(component, listenerID, eventType string, d time.Duration, err error) {
	m.add("handled %s %s %s err=%v", component, listenerID, eventType, err != nil)
}

func (m *metricsLog) EventDropped(component, reason string) {
	m.add("dropped %s %s", component, reason)
}

func TestMetricsHookIsCalled(t *testing.T) {
	ctx := context.Background()
	t.Run("Emit reports the event and every listener call", func(t *testing.T) {
		var m metricsLog
		em := newEmitter(t, emitter.Config{Name: "orders", Metrics: &m})
		em.Subscribe("order.created", shared.NewBaseListener("ok", func(shared.Event) error { return nil }))
		em.Subscribe("order.*", shared.NewBaseListener("failing", func(shared.Event) error { return errors.New("no") }))
		_ = em.Emit(ctx, ev("o-1", "order.created"))
		_ = em.Emit(ctx, ev("", "order.created")) // refused
		want := []string{
			"emitted orders order.created err=false",
			"handled orders ok order.created err=false",
			"handled orders failing order.created err=true",
			"emitted orders order.created err=true",
		}
		if got := m.got(); !slices.Equal(got, want) {
			t.Errorf("metrics calls:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("EmitAsync reports acceptance, handling and drops", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var m metricsLog
			pool := workerpool.New(1, 4)
			em := emitter.New(emitter.Config{Metrics: &m, WorkerPool: pool, BufferSize: 1, MaxConcurrency: 1, Overflow: emitter.OverflowReject})
			release := make(chan struct{})
			em.Subscribe("slow", shared.NewBaseListener("slow", func(shared.Event) error { <-release; return nil }))
			for _, id := range []string{"in-handler", "queued", "dropped"} {
				_ = em.EmitAsync(ctx, ev(id, "slow"))
				synctest.Wait()
			}
			close(release)
			if err := em.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			want := []string{
				"emitted emitter slow err=false",
				"emitted emitter slow err=false",
				"dropped emitter buffer_full",
				"handled emitter slow slow err=false",
				"handled emitter slow slow err=false",
			}
			got := m.got()
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("metrics calls:\n got %q\nwant %q", got, want)
			}
			if err := pool.Close(ctx); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// binderLog is a metricsLog that binds each listener's attempts once
// (shared.AttemptBinder).
type binderLog struct {
	metricsLog
	bound []string
}

func (m *binderLog) BindAttempts(component, listenerID string) shared.AttemptReporter {
	m.mu.Lock()
	m.bound = append(m.bound, component+" "+listenerID)
	m.mu.Unlock()
	return boundLog{m, component + " " + listenerID}
}

type boundLog struct {
	m    *binderLog
	name string
}

func (b boundLog) Attempted(d time.Duration, err error) {
	b.m.add("attempted %s err=%v", b.name, err != nil)
}

func TestAMetricsThatBindsGetsEachAttemptThroughItsReporter(t *testing.T) {
	var m binderLog
	em := newEmitter(t, emitter.Config{Name: "orders", Metrics: &m})
	em.Subscribe("order.created", shared.NewBaseListener("ok", func(shared.Event) error { return nil }))
	em.Subscribe("order.*", shared.NewBaseListener("failing", func(shared.Event) error { return errors.New("no") }))
	_ = em.Emit(context.Background(), ev("o-1", "order.created"))
	_ = em.Emit(context.Background(), ev("o-2", "order.created"))
	m.mu.Lock()
	bound := slices.Clone(m.bound)
	m.mu.Unlock()
	slices.Sort(bound)
	if want := []string{"orders failing", "orders ok"}; !slices.Equal(bound, want) {
		t.Errorf("bound %q, want each listener once: %q", bound, want)
	}
	var attempts, handled int
	for _, l := range m.got() {
		switch {
		case len(l) > 9 && l[:9] == "attempted":
			attempts++
		case len(l) > 7 && l[:7] == "handled":
			handled++
		}
	}
	if attempts != 4 || handled != 0 {
		t.Errorf("%d attempts through the bound reporters and %d EventHandled calls, want 4 and 0: %q", attempts, handled, m.got())
	}
}

func TestEmitAsyncThatGivesUpWaitingIsCounted(t *testing.T) {
	var m metricsLog
	pool := workerpool.New(1, 1)
	defer pool.Close(context.Background())
	em := newEmitter(t, emitter.Config{Name: "orders", WorkerPool: pool, BufferSize: 1, MaxConcurrency: 1, Metrics: &m})
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	em.Subscribe("order.created", shared.NewBaseListener("slow", func(shared.Event) error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		return nil
	}))
	defer close(release)
	ctx := context.Background()
	if err := em.EmitAsync(ctx, ev("o-1", "order.created")); err != nil {
		t.Fatal(err)
	}
	<-started // o-1 is being handled; the buffer is empty again
	if err := em.EmitAsync(ctx, ev("o-2", "order.created")); err != nil {
		t.Fatal(err) // fills the buffer of one
	}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- em.EmitAsync(cctx, ev("o-3", "order.created")) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("EmitAsync = %v, want context.Canceled", err)
	}
	if s := em.Stats(); s.CanceledEvents != 1 || s.DroppedEvents != 0 {
		t.Errorf("Stats: %d canceled, %d dropped; want 1 and 0", s.CanceledEvents, s.DroppedEvents)
	}
	if !slices.Contains(m.got(), "dropped orders emit_canceled") {
		t.Errorf("metrics %q lack the canceled emit", m.got())
	}
}
