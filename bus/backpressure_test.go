package bus_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// blocker is a listener that blocks every call until released.
func blocker(id string, release <-chan struct{}, r *recorder) shared.Listener {
	return shared.NewBaseListener(id, func(e shared.Event) error {
		<-release
		if r != nil {
			return r.Handle(context.Background(), e)
		}
		return nil
	})
}

func TestFullPartitionRejectsWithErrBufferFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1, BufferSize: 4, Overflow: bus.OverflowReject})
		release := make(chan struct{})
		mustSubscribe(t, b, "t", blocker("slow", release, nil))
		for i := range 4 {
			mustPublish(t, b, "t", shared.NewBaseEvent(evID(i), "x", nil))
		}
		err := b.Publish(context.Background(), "t", shared.NewBaseEvent("over", "x", nil))
		if !errors.Is(err, bus.ErrBufferFull) || !errors.Is(err, shared.ErrBufferFull) {
			t.Fatalf("Publish to a full partition = %v, want ErrBufferFull", err)
		}
		if got := b.Stats().Dropped[bus.DropBufferFull]; got != 1 {
			t.Errorf("buffer-full drops = %d, want 1", got)
		}
		if got := b.Stats().TopicStats["t"].QueueDepth[0]; got != 4 {
			t.Errorf("queue depth = %d, want 4", got)
		}
		close(release)
		shutdown(t, b)
	})
}

func TestFullPartitionBlocksUntilRoomOrContextDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1, BufferSize: 2})
		release := make(chan struct{})
		r := &recorder{id: "r"}
		mustSubscribe(t, b, "t", blocker("slow", release, r))
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		mustPublish(t, b, "t", shared.NewBaseEvent("2", "x", nil))

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := b.Publish(ctx, "t", shared.NewBaseEvent("late", "x", nil))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Publish = %v, want the context's deadline", err)
		}
		if got := b.Stats().Dropped[bus.DropPublishCanceled]; got != 1 {
			t.Errorf("canceled drops = %d, want 1", got)
		}

		done := make(chan error)
		go func() { done <- b.Publish(context.Background(), "t", shared.NewBaseEvent("3", "x", nil)) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Publish returned %v while the partition was full", err)
		default:
		}
		close(release) // the subscriber settles events: room appears
		if err := <-done; err != nil {
			t.Fatalf("blocked Publish = %v, want nil once there is room", err)
		}
		shutdown(t, b)
		if got := len(r.handled()); got != 3 {
			t.Errorf("handled %d, want 3", got)
		}
	})
}

func TestASlowSubscriberDelaysOthersOnlyOnceItsQueueIsFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 8
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1, BufferSize: size, Overflow: bus.OverflowReject})
		release := make(chan struct{})
		fast := &recorder{id: "fast"}
		mustSubscribe(t, b, "t", fast)
		mustSubscribe(t, b, "t", blocker("slow", release, nil))
		for i := range size {
			mustPublish(t, b, "t", shared.NewBaseEvent(evID(i), "x", nil))
		}
		synctest.Wait()
		if got := len(fast.handled()); got != size {
			t.Errorf("fast subscriber handled %d of %d while the slow one was stuck", got, size)
		}
		// The slow subscriber is now size events behind: its queue is full.
		if err := b.Publish(context.Background(), "t", shared.NewBaseEvent("x", "x", nil)); !errors.Is(err, bus.ErrBufferFull) {
			t.Errorf("Publish past the slow subscriber's queue = %v, want ErrBufferFull", err)
		}
		close(release)
		shutdown(t, b)
	})
}

func TestPublishingToATopicWithoutSubscribersIsCounted(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "t", bus.TopicConfig{})
	mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
	s := b.Stats()
	if s.Published != 1 || s.Dropped[bus.DropNoSubscribers] != 1 {
		t.Fatalf("published/no-subscriber drops = %d/%d, want 1/1", s.Published, s.Dropped[bus.DropNoSubscribers])
	}
	if s.TotalDropped() != 1 {
		t.Fatalf("TotalDropped = %d", s.TotalDropped())
	}
}

func TestUnsubscribingCountsWhatWasWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1})
		release := make(chan struct{})
		sub := mustSubscribe(t, b, "t", blocker("slow", release, nil))
		for i := range 5 {
			mustPublish(t, b, "t", shared.NewBaseEvent(evID(i), "x", nil))
		}
		synctest.Wait() // one running, four waiting
		if err := sub.Unsubscribe(); err != nil {
			t.Fatal(err)
		}
		close(release)
		shutdown(t, b)
		s := b.Stats()
		if s.Dropped[bus.DropUnsubscribed] != 4 || s.Processed != 1 {
			t.Fatalf("unsubscribed drops/processed = %d/%d, want 4/1", s.Dropped[bus.DropUnsubscribed], s.Processed)
		}
	})
}

// A flood of events while every handler is blocked must not start a
// goroutine per event (nor per message waiting in a lane): the count stays
// at what the pool, the bus and the test started.
func TestAFloodDoesNotStartAGoroutinePerEvent(t *testing.T) {
	const events, workers = 10_000, 4
	before := runtime.NumGoroutine()
	pool := workerpool.New(workers, 64)
	defer pool.Close(context.Background())
	b := newBus(t, bus.Config{WorkerPool: pool})
	mustCreate(t, b, "flood", bus.TopicConfig{Partitions: 8, BufferSize: events, MaxConcurrency: 4, OrderingKey: byKey})
	release := make(chan struct{})
	started := make(chan struct{}, events)
	mustSubscribe(t, b, "flood", shared.NewBaseListener("blocked", func(shared.Event) error {
		started <- struct{}{}
		<-release
		return nil
	}))
	for i := range events {
		mustPublish(t, b, "flood", keyed(evID(i), "k"+strconv.Itoa(i%97)))
	}
	for range workers { // every worker is inside a blocked handler
		<-started
	}
	during := runtime.NumGoroutine()
	t.Logf("goroutines: %d before, %d during the flood", before, during)
	close(release)
	shutdown(t, b)
	// The pool's workers, the bus's three goroutines, and some slack for
	// the runtime and the test framework: nowhere near one per event.
	if extra := during - before; extra > workers+3+16 {
		t.Fatalf("%d goroutines more during a flood of %d events with blocked handlers, want at most %d", extra, events, workers+3+16)
	}
	if got := b.Stats().Processed; got != events {
		t.Fatalf("processed %d, want %d", got, events)
	}
}
