package workerpool_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

func TestNewFillsDefaults(t *testing.T) {
	tests := []struct {
		name           string
		workers, queue int
		wantWorkers    int
		wantQueue      int
	}{
		{"zero values take the sizing defaults", 0, 0, workerpool.DefaultWorkers(), workerpool.DefaultWorkers() * 10},
		{"a zero queue is ten per worker", 3, 0, 3, 30},
		{"given values are kept", 2, 7, 2, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := workerpool.New(tt.workers, tt.queue)
			closePool(t, p)
			s := p.Stats()
			if p.Workers() != tt.wantWorkers || s.MaxWorkers != tt.wantWorkers || s.Workers != tt.wantWorkers {
				t.Errorf("workers: Workers() %d, Stats %d/%d, want %d", p.Workers(), s.Workers, s.MaxWorkers, tt.wantWorkers)
			}
			if s.QueueSize != tt.wantQueue {
				t.Errorf("QueueSize = %d, want %d", s.QueueSize, tt.wantQueue)
			}
		})
	}
}

func TestNewRefusesNonsenseWithAConfigError(t *testing.T) {
	for _, tc := range []struct {
		field string
		p     *workerpool.Pool
	}{
		{"workers", workerpool.New(-3, 0)},
		{"workers", workerpool.New(100_000, 1)},
		{"queueSize", workerpool.New(2, -1)},
		{"queueSize", workerpool.New(2, workerpool.MaxQueueSize+1)},
		{"WithWeights", workerpool.New(2, 4, workerpool.WithWeights(-1, 0, 0))},
		{"WithMinWorkers", workerpool.New(2, 4, workerpool.WithMinWorkers(-2))},
		{"WithIdleTimeout", workerpool.New(2, 4, workerpool.WithIdleTimeout(-1))},
	} {
		t.Run(tc.field, func(t *testing.T) {
			var ce *workerpool.ConfigError
			if err := tc.p.Err(); !errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, workerpool.ErrInvalidConfig) {
				t.Fatalf("Err() = %v, want a *ConfigError for %s", err, tc.field)
			}
			if s := tc.p.Stats(); s.Workers != 0 || s.MaxWorkers != 0 {
				t.Fatalf("a refused pool runs workers: %+v", s)
			}
			everyPoolMethodFails(t, tc.p, workerpool.ErrInvalidConfig)
		})
	}
}

func TestTheZeroPoolSaysItIsNotInitialized(t *testing.T) {
	var p workerpool.Pool
	if err := p.Err(); !errors.Is(err, workerpool.ErrNotInitialized) {
		t.Fatalf("Err() = %v", err)
	}
	everyPoolMethodFails(t, &p, workerpool.ErrNotInitialized)
}

// everyPoolMethodFails calls every method of p; each must return want
// (Workers 0, Stats zero), none may block.
func everyPoolMethodFails(t *testing.T, p *workerpool.Pool, want error) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := context.Background()
		task := func() { t.Error("a task ran") }
		for name, err := range map[string]error{
			"Submit":            p.Submit(ctx, task),
			"TrySubmit":         p.TrySubmit(task),
			"SubmitPriority":    p.SubmitPriority(ctx, workerpool.PriorityHigh, task),
			"TrySubmitPriority": p.TrySubmitPriority(workerpool.PriorityHigh, task),
			"SubmitKeep":        p.SubmitKeep(ctx, workerpool.PriorityNormal, task),
			"TrySubmitKeep":     p.TrySubmitKeep(workerpool.PriorityNormal, task),
			"Resize":            p.Resize(2),
			"Drain":             p.Drain(ctx),
			"Close":             p.Close(ctx),
		} {
			if !errors.Is(err, want) {
				t.Errorf("%s = %v, want %v", name, err, want)
			}
		}
		if p.Workers() != 0 {
			t.Errorf("Workers = %d", p.Workers())
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a method did not return")
	}
}

func TestNewTakesHarmlessZeroOptions(t *testing.T) {
	p := workerpool.New(2, 4, nil,
		workerpool.WithWeights(0, 0, 0),
		workerpool.WithIdleTimeout(0),
		workerpool.WithMetrics(nil),
		workerpool.WithName(""),
		workerpool.WithOverflow(workerpool.BlockTimeout(0)))
	closePool(t, p)
	done := make(chan struct{})
	if err := p.Submit(context.Background(), func() { close(done) }); err != nil {
		t.Fatal(err)
	}
	<-done
}

func TestSubmitRunsEveryTask(t *testing.T) {
	p := workerpool.New(4, 8)
	var ran atomic.Int64
	var wg sync.WaitGroup
	const n = 1000
	wg.Add(n)
	for i := range n {
		var err error
		if i%2 == 0 {
			err = p.Submit(context.Background(), func() { ran.Add(1); wg.Done() })
		} else {
			err = p.SubmitPriority(context.Background(), workerpool.Priority(i%4-1), func() { ran.Add(1); wg.Done() })
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	if ran.Load() != n || s.Submitted != n || s.Completed != n {
		t.Errorf("ran %d, Submitted %d, Completed %d, want %d", ran.Load(), s.Submitted, s.Completed, n)
	}
	checkInvariant(t, s)
}

func TestSubmitRefusesBadInput(t *testing.T) {
	p := workerpool.New(1, 1)
	closePool(t, p)
	ctx := context.Background()
	tests := []struct {
		name   string
		submit func() error
		want   error
	}{
		{"a nil task to Submit", func() error { return p.Submit(ctx, nil) }, workerpool.ErrNilTask},
		{"a nil task to TrySubmit", func() error { return p.TrySubmit(nil) }, workerpool.ErrNilTask},
		{"a nil task to SubmitPriority", func() error { return p.SubmitPriority(ctx, workerpool.PriorityHigh, nil) }, workerpool.ErrNilTask},
		{"a priority above critical", func() error { return p.SubmitPriority(ctx, 3, func() {}) }, workerpool.ErrInvalidPriority},
		{"a priority below low", func() error { return p.TrySubmitPriority(-2, func() {}) }, workerpool.ErrInvalidPriority},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.submit(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNilContextIsTreatedAsBackground(t *testing.T) {
	p := workerpool.New(1, 1)
	closePool(t, p)
	done := make(chan struct{})
	if err := p.Submit(nil, func() { close(done) }); err != nil { //nolint:staticcheck // nil ctx is the point
		t.Fatal(err)
	}
	<-done
	if err := p.Drain(nil); err != nil { //nolint:staticcheck // nil ctx is the point
		t.Fatal(err)
	}
}

func TestTrySubmitFailsFastWhenFull(t *testing.T) {
	p := workerpool.New(1, 2)
	closePool(t, p)
	release := occupy(t, p, 1)
	defer release()
	for i := range 2 {
		if err := p.TrySubmit(func() {}); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	if err := p.TrySubmit(func() {}); !errors.Is(err, workerpool.ErrQueueFull) {
		t.Fatalf("got %v, want ErrQueueFull", err)
	}
	if err := p.TrySubmitPriority(workerpool.PriorityCritical, func() {}); !errors.Is(err, workerpool.ErrQueueFull) {
		t.Fatalf("critical: got %v, want ErrQueueFull", err)
	}
	s := p.Stats()
	if s.Rejected != 2 || s.Lane(workerpool.PriorityNormal).Rejected != 1 || s.Lane(workerpool.PriorityCritical).Rejected != 1 {
		t.Errorf("Rejected %d (normal %d, critical %d), want 2 (1, 1)", s.Rejected,
			s.Lane(workerpool.PriorityNormal).Rejected, s.Lane(workerpool.PriorityCritical).Rejected)
	}
}

func TestSubmitBlocksUntilRoomOrContextDone(t *testing.T) {
	p := workerpool.New(1, 1)
	closePool(t, p)
	release := occupy(t, p, 1)
	if err := p.TrySubmit(func() {}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- p.Submit(ctx, func() {}) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: got %v, want context.Canceled", err)
	}

	ran := make(chan struct{})
	go func() { errc <- p.Submit(context.Background(), func() { close(ran) }) }()
	release()
	if err := <-errc; err != nil {
		t.Fatalf("wait for room: %v", err)
	}
	<-ran
}

func TestPanickingTaskIsRecoveredAndCounted(t *testing.T) {
	var (
		mu     sync.Mutex
		caught []*shared.PanicError
	)
	m := &recordingMetrics{}
	p := workerpool.New(1, 4,
		workerpool.WithPanicHandler(func(pe *shared.PanicError) {
			mu.Lock()
			caught = append(caught, pe)
			mu.Unlock()
		}),
		workerpool.WithMetrics(m))
	closePool(t, p)
	boom := errors.New("boom")
	for range 3 {
		if err := p.Submit(context.Background(), func() { panic(boom) }); err != nil {
			t.Fatal(err)
		}
	}
	// The single worker survived if it still runs the next task.
	done := make(chan struct{})
	if err := p.Submit(context.Background(), func() { close(done) }); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := p.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	if s.Panicked != 3 || s.Failed != 3 || s.Completed != 4 || s.Workers != 1 {
		t.Errorf("Panicked %d, Failed %d, Completed %d, Workers %d; want 3, 3, 4, 1", s.Panicked, s.Failed, s.Completed, s.Workers)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(caught) != 3 || !errors.Is(caught[0], boom) || !errors.Is(caught[0], shared.ErrListenerPanic) || len(caught[0].Stack) == 0 {
		t.Errorf("panic handler got %v", caught)
	}
	if got := m.panicked.Load(); got != 3 {
		t.Errorf("metrics saw %d panicked tasks, want 3", got)
	}
}

func TestPanicInPanicHandlerDoesNotKillTheWorker(t *testing.T) {
	p := workerpool.New(1, 1, workerpool.WithPanicHandler(func(*shared.PanicError) { panic("again") }))
	closePool(t, p)
	_ = p.Submit(context.Background(), func() { panic("first") })
	done := make(chan struct{})
	_ = p.Submit(context.Background(), func() { close(done) })
	<-done
}

func TestGoexitInTaskCountsAsFailedAndReplacesTheWorker(t *testing.T) {
	p := workerpool.New(1, 4)
	closePool(t, p)
	if err := p.Submit(context.Background(), func() { runtime.Goexit() }); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	if err := p.Submit(context.Background(), func() { close(done) }); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := p.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	if s.Failed != 1 || s.Panicked != 0 || s.Completed != 2 || s.Workers != 1 || s.Running != 0 {
		t.Errorf("Failed %d, Panicked %d, Completed %d, Workers %d, Running %d; want 1, 0, 2, 1, 0",
			s.Failed, s.Panicked, s.Completed, s.Workers, s.Running)
	}
}

func TestStatsReturnsACopy(t *testing.T) {
	p := workerpool.New(1, 1)
	closePool(t, p)
	s := p.Stats()
	s.Lanes[0].Queued = 99
	s.Submitted = 99
	if p.Stats().Submitted != 0 || p.Stats().Lanes[0].Queued != 0 {
		t.Fatal("changing a snapshot changed the pool")
	}
}

func TestPriorityString(t *testing.T) {
	tests := []struct {
		p    workerpool.Priority
		want string
	}{
		{workerpool.PriorityLow, "low"},
		{workerpool.PriorityNormal, "normal"},
		{workerpool.PriorityHigh, "high"},
		{workerpool.PriorityCritical, "critical"},
		{7, "Priority(7)"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%d: got %q, want %q", int(tt.p), got, tt.want)
		}
	}
	var zero workerpool.Priority
	if zero != workerpool.PriorityNormal {
		t.Error("the zero Priority is not PriorityNormal")
	}
}
