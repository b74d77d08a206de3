package shutdown_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/novaevents/nova/internal/shutdown"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errFinish = errors.New("finish failed")

func TestTheFirstCallBeginsAndEveryCallGetsTheOutcome(t *testing.T) {
	var o shutdown.Once
	var begun, finished atomic.Int32
	release := make(chan struct{})
	begin := func() { begun.Add(1) }
	finish := func() error { <-release; finished.Add(1); return errFinish }

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Do(ctx, begin, finish); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with an ended ctx = %v, want context.Canceled", err)
	}
	if begun.Load() != 1 {
		t.Fatal("begin did not run before Do returned")
	}
	results := make(chan error, 2)
	for range 2 {
		go func() { results <- o.Do(context.Background(), begin, finish) }()
	}
	close(release)
	for range 2 {
		if err := <-results; !errors.Is(err, errFinish) {
			t.Errorf("a waiting Do = %v, want finish's error", err)
		}
	}
	if err := o.Do(nil, begin, finish); !errors.Is(err, errFinish) {
		t.Errorf("a later Do = %v, want finish's error", err)
	}
	if begun.Load() != 1 || finished.Load() != 1 {
		t.Errorf("begin ran %d times, finish %d; want once each", begun.Load(), finished.Load())
	}
	<-o.Done()
}

func TestWaitPrefersDone(t *testing.T) {
	done := make(chan struct{})
	close(done)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := shutdown.Wait(ctx, done); err != nil {
		t.Errorf("Wait = %v with done closed", err)
	}
	if err := shutdown.Wait(ctx, make(chan struct{})); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
}
