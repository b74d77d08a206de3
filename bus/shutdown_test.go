package bus_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

func TestPublishRacingShutdownNeverPanicsNorLosesAcceptedEvents(t *testing.T) {
	iterations := 200
	if testing.Short() {
		iterations = 30
	}
	for it := range iterations {
		var handled atomic.Int64
		b := bus.New(bus.Config{})
		if err := b.CreateTopic("t", bus.TopicConfig{Partitions: 2, BufferSize: 16}); err != nil {
			t.Fatal(err)
		}
		b.Subscribe("t", shared.NewBaseListener("l", func(shared.Event) error { handled.Add(1); return nil }))
		var accepted atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for p := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; ; i++ {
					err := b.Publish(context.Background(), "t", shared.NewBaseEvent(evID(p*1_000_000+i), "x", nil))
					if errors.Is(err, bus.ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("Publish = %v", err)
						return
					}
					accepted.Add(1)
				}
			}()
		}
		close(start)
		if it%2 == 0 {
			time.Sleep(time.Duration(it%5) * 100 * time.Microsecond)
		}
		var shutErrs [2]error
		var sw sync.WaitGroup
		for i := range 2 { // two concurrent Shutdowns
			sw.Add(1)
			go func() { defer sw.Done(); shutErrs[i] = b.Shutdown(context.Background()) }()
		}
		sw.Wait()
		wg.Wait()
		for _, err := range shutErrs {
			if err != nil {
				t.Fatalf("iteration %d: Shutdown = %v", it, err)
			}
		}
		if a, h := accepted.Load(), handled.Load(); a != h {
			t.Fatalf("iteration %d: accepted %d events, handled %d", it, a, h)
		}
	}
}

func TestShutdownDeliversPendingRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{RetryPolicy: listener.RetryPolicy{InitialDelay: 5 * time.Second, Jitter: listener.JitterNone}})
		calls := 0
		r := &recorder{id: "r", fn: func(shared.Event) error {
			calls++
			if calls == 1 {
				return errFlaky
			}
			return nil
		}}
		mustSubscribe(t, b, "t", r)
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		synctest.Wait() // the first attempt failed; the retry waits 5s
		start := time.Now()
		shutdown(t, b)
		if waited := time.Since(start); waited != 5*time.Second {
			t.Errorf("Shutdown took %v, want the 5s backoff", waited)
		}
		if len(r.handled()) != 1 {
			t.Fatalf("the retried event was not delivered before Shutdown returned")
		}
	})
}

func TestShutdownRefusesNewWorkAndIsIdempotent(t *testing.T) {
	b := bus.New(bus.Config{})
	mustCreate(t, b, "t", bus.TopicConfig{})
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
	if err := b.Publish(context.Background(), "t", shared.NewBaseEvent("1", "x", nil)); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Shutdown = %v", err)
	}
	if err := b.Publish(context.Background(), "unknown", shared.NewBaseEvent("1", "x", nil)); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish to an unknown topic after Shutdown = %v", err)
	}
	if err := b.CreateTopic("u", bus.TopicConfig{}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("CreateTopic after Shutdown = %v", err)
	}
	if sub := b.Subscribe("t", &recorder{id: "r"}); sub.Active() || !errors.Is(sub.Unsubscribe(), bus.ErrClosed) {
		t.Errorf("Subscribe after Shutdown gave an active subscription")
	}
}

func TestShutdownThatRunsOutOfTimeCountsWhatItLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1})
		release := make(chan struct{})
		mustSubscribe(t, b, "t", blocker("stuck", release, nil))
		for i := range 5 {
			mustPublish(t, b, "t", shared.NewBaseEvent(evID(i), "x", nil))
		}
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
		}
		if got := b.Stats().Dropped[bus.DropShutdown]; got != 4 {
			t.Errorf("shutdown drops = %d, want the 4 events not started", got)
		}
		close(release)
		if err := b.Shutdown(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a later Shutdown = %v, want the first one's result", err)
		}
		synctest.Wait() // the stuck handler and the owned pool's workers finish
	})
}

func TestEventsAreDeliveredEvenIfThePoolIsClosedFirst(t *testing.T) {
	pool := workerpool.New(2, 4)
	b := newBus(t, bus.Config{WorkerPool: pool})
	mustCreate(t, b, "t", bus.TopicConfig{Partitions: 2})
	r := &recorder{id: "r"}
	mustSubscribe(t, b, "t", r)
	if err := pool.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		mustPublish(t, b, "t", shared.NewBaseEvent(evID(i), "x", nil))
	}
	shutdown(t, b)
	if got := len(r.handled()); got != 50 {
		t.Fatalf("handled %d, want 50", got)
	}
}

func TestAFullPoolQueueStrandsNothing(t *testing.T) {
	// A pool with one worker and a queue of one, shared with a task that
	// holds the worker: the bus's drainers cannot all be queued at once.
	pool := workerpool.New(1, 1)
	defer pool.Close(context.Background())
	hold := make(chan struct{})
	if err := pool.Submit(context.Background(), func() { <-hold }); err != nil {
		t.Fatal(err)
	}
	b := newBus(t, bus.Config{WorkerPool: pool})
	mustCreate(t, b, "t", bus.TopicConfig{Partitions: 8})
	r := &recorder{id: "r"}
	mustSubscribe(t, b, "t", r)
	for i := range 200 {
		mustPublish(t, b, "t", shared.NewBaseEvent(evID(i), "x", nil))
	}
	close(hold)
	shutdown(t, b)
	if got := len(r.handled()); got != 200 {
		t.Fatalf("handled %d, want 200", got)
	}
}

// With the pool closed before the bus, handlers run on the bus's rescuer
// goroutine. A Shutdown whose ctx ends while one of them is stuck must
// return ctx's error, not wait for the handler; calling Shutdown again
// waits for it.
func TestShutdownReturnsOnTimeEvenWhenAHandlerRunsOnTheRescuer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := workerpool.New(1, 1)
		if err := pool.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		b := bus.New(bus.Config{WorkerPool: pool})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1})
		release := make(chan struct{})
		var finished atomic.Bool
		mustSubscribe(t, b, "t", shared.NewBaseListener("stuck", func(shared.Event) error {
			<-release // ignores its context
			time.Sleep(time.Second)
			finished.Store(true)
			return nil
		}))
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		synctest.Wait() // the handler is running, on the rescuer

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if err := b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("Shutdown returned after %v, want its 1s deadline", waited)
		}
		close(release)
		if err := b.Shutdown(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a later Shutdown = %v, want the first one's result", err)
		}
		if !finished.Load() {
			t.Error("a later Shutdown returned before the handler left running on the rescuer")
		}
	})
}

// The dead-letter goroutine finishes its queue after a Shutdown that ran
// out of time; a later Shutdown waits for it, and gives up with its own ctx.
func TestALaterShutdownWaitsForTheDeadLetterCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls atomic.Int32
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1, DeliveryMode: bus.AtMostOnce, DeadLetter: listener.DeadLetterConfig{
			Enabled: true, Handler: func(shared.Event, error) {
				<-release
				time.Sleep(time.Second)
				calls.Add(1)
			},
		}})
		mustSubscribe(t, b, "t", &recorder{id: "l", fn: func(shared.Event) error { return errFlaky }})
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		mustPublish(t, b, "t", shared.NewBaseEvent("2", "x", nil))
		synctest.Wait() // both dead-lettered: one call running, one queued

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
		}
		short, cancelShort := context.WithTimeout(context.Background(), time.Second)
		defer cancelShort()
		if err := b.Shutdown(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a later Shutdown with the dead-letter handler still stuck = %v, want its own ctx's error", err)
		}
		close(release)
		if err := b.Shutdown(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a later Shutdown = %v, want the first one's result", err)
		}
		// The call running when the first Shutdown ran out of time is
		// waited for; the queued one was given up then (it stays in the
		// store, counted as skipped).
		if n := calls.Load(); n != 1 {
			t.Errorf("a later Shutdown returned after %d dead-letter calls, want the running 1", n)
		}
		if s := b.Listeners().Stats(); s.DeadLetterHandlerSkipped != 1 || s.DeadLettersInStore != 2 {
			t.Errorf("skipped %d, in store %d; want 1 and 2", s.DeadLetterHandlerSkipped, s.DeadLettersInStore)
		}
	})
}
