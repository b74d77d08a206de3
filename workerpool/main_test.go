package workerpool_test

import (
	"context"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/novaevents/nova/workerpool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// occupy submits n tasks that hold their worker until release is called,
// and returns once all n are running.
func occupy(t *testing.T, p *workerpool.Pool, n int) (release func()) {
	t.Helper()
	hold := make(chan struct{})
	var started sync.WaitGroup
	started.Add(n)
	for range n {
		if err := p.Submit(context.Background(), func() { started.Done(); <-hold }); err != nil {
			t.Fatalf("occupy: %v", err)
		}
	}
	started.Wait()
	var once sync.Once
	return func() { once.Do(func() { close(hold) }) }
}

// closePool closes p at the end of the test and fails it if Close fails.
func closePool(t *testing.T, p *workerpool.Pool) {
	t.Helper()
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// checkInvariant fails the test unless the counters add up.
func checkInvariant(t *testing.T, s workerpool.Stats) {
	t.Helper()
	if got := s.Completed + uint64(s.Running) + uint64(s.Queued) + s.Evicted; got != s.Submitted {
		t.Errorf("Completed %d + Running %d + Queued %d + Evicted %d = %d, want Submitted %d",
			s.Completed, s.Running, s.Queued, s.Evicted, got, s.Submitted)
	}
}
