package callback_test

import (
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/novaevents/nova/internal/callback"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestASlowCallbackNeverBlocksSendAndOverflowIsCounted(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var mu sync.Mutex
	var got []int
	r := callback.New(2, func(v int) {
		started <- struct{}{}
		<-release
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
	}, nil)
	if res := r.Send(1); res != callback.Sent {
		t.Fatalf("Send = %v", res)
	}
	<-started // 1 is running; the queue holds 2 more
	r.Send(2)
	r.Send(3)
	if res := r.Send(4); res != callback.Full || r.Overflow() != 1 {
		t.Fatalf("Send on a full queue = %v, overflow %d", res, r.Overflow())
	}
	if r.Queued() != 2 {
		t.Errorf("Queued = %d, want 2", r.Queued())
	}
	close(release)
	go func() {
		for range started {
		}
	}()
	run, ok := r.Stop()
	if !ok {
		t.Fatal("Stop found no goroutine")
	}
	<-run.Done()
	close(started)
	if len(got) != 3 {
		t.Errorf("called with %v, want 1, 2, 3", got)
	}
	if res := r.Send(5); res != callback.Stopped || r.Skipped() != 1 {
		t.Errorf("Send after Stop = %v, skipped %d", res, r.Skipped())
	}
}

func TestGiveUpSkipsWhatIsLeftAndRestartRunsAgain(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	calls := 0
	r := callback.New(4, func(v int) {
		calls++
		if v == 1 {
			close(started)
			<-release
		}
	}, nil)
	r.Send(1)
	<-started
	r.Send(2)
	r.Send(3)
	run, _ := r.Stop()
	run.GiveUp()
	close(release)
	<-run.Done()
	if calls != 1 || r.Skipped() != 2 {
		t.Errorf("calls %d, skipped %d; want 1 and 2", calls, r.Skipped())
	}
	r.Restart()
	if res := r.Send(4); res != callback.Sent {
		t.Fatalf("Send after Restart = %v", res)
	}
	run, _ = r.Stop()
	<-run.Done()
	if calls != 2 {
		t.Errorf("calls %d after Restart, want 2", calls)
	}
}

func TestAPanickingCallbackIsRecoveredAndCounted(t *testing.T) {
	var reported any
	r := callback.New(1, func(int) { panic("boom") }, func(v any) { reported = v })
	r.Send(1)
	run, _ := r.Stop()
	<-run.Done()
	if r.Panics() != 1 || reported != "boom" {
		t.Errorf("panics %d, reported %v", r.Panics(), reported)
	}
}

func TestAnIdleRunnerHoldsNoGoroutine(t *testing.T) {
	handled := make(chan int, 1)
	r := callback.New(4, func(v int) { handled <- v }, nil)
	for i := range 3 {
		if res := r.Send(i); res != callback.Sent {
			t.Fatalf("send %d: %v", i, res)
		}
		if got := <-handled; got != i {
			t.Fatalf("handled %d, want %d", got, i)
		}
		// The goroutine ends once its queue is empty (goleak waits for
		// it); the next Send starts another.
		goleak.VerifyNone(t)
	}
	if _, running := r.Stop(); running {
		t.Error("Stop found a goroutine running on an idle Runner")
	}
}
