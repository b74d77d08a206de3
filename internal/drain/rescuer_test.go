package drain_test

import (
	"context"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/novaevents/nova/internal/drain"
	"github.com/novaevents/nova/workerpool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSlotsBoundTheDrainers(t *testing.T) {
	s := drain.Slots{Max: 2}
	if !s.TryAcquire() || !s.TryAcquire() || s.TryAcquire() {
		t.Fatal("Slots{Max: 2} did not give exactly two slots")
	}
	if s.Release() != 1 || !s.TryAcquire() || s.Taken() != 2 {
		t.Error("a released slot was not taken again")
	}
}

// A full pool queue never blocks Submit and never loses the drainer: the
// rescuer queues it once there is room.
func TestAFullPoolQueueIsRescued(t *testing.T) {
	pool := workerpool.New(1, 1)
	defer pool.Close(context.Background())
	block := make(chan struct{})
	running := make(chan struct{})
	if err := pool.Submit(context.Background(), func() { close(running); <-block }); err != nil {
		t.Fatal(err)
	}
	<-running
	_ = pool.TrySubmit(func() {}) // fills the one-task queue
	r := drain.NewRescuer(pool)
	var ran atomic.Int32
	done := make(chan struct{})
	if !r.Submit(workerpool.PriorityNormal, func() { ran.Add(1); close(done) }) {
		t.Fatal("Submit refused before Shutdown")
	}
	close(block)
	<-done
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Once the pool is closed, the rescuer runs the drainer itself.
func TestAClosedPoolRunsTheDrainerInPlace(t *testing.T) {
	pool := workerpool.New(1, 1)
	if err := pool.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := drain.NewRescuer(pool)
	done := make(chan struct{})
	if !r.Submit(workerpool.PriorityNormal, func() { close(done) }) {
		t.Fatal("Submit refused before Shutdown")
	}
	<-done
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Submit(workerpool.PriorityNormal, func() {}) {
		t.Error("Submit after Shutdown (pool closed) accepted the drainer")
	}
}

// After Hurry, an idle rescuer waits (it does not spin) and still runs
// what comes, without waiting for the pool.
func TestAHurriedRescuerWaitsForWork(t *testing.T) {
	pool := workerpool.New(1, 1)
	defer pool.Close(context.Background())
	r := drain.NewRescuer(pool)
	r.Hurry()
	done := make(chan struct{})
	if !r.Submit(workerpool.PriorityNormal, func() { close(done) }) {
		t.Fatal("Submit refused")
	}
	<-done
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
