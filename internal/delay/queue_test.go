package delay_test

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/novaevents/nova/internal/delay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestQueueRunsEachFunctionWhenItIsDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := delay.New()
		defer q.Close()
		start := time.Now()
		var mu sync.Mutex
		type run struct {
			name string
			at   time.Duration
		}
		var got []run
		record := func(name string) func() {
			return func() {
				mu.Lock()
				got = append(got, run{name, time.Since(start)})
				mu.Unlock()
			}
		}
		q.Schedule(300*time.Millisecond, record("c"))
		q.Schedule(100*time.Millisecond, record("a"))
		q.Schedule(200*time.Millisecond, record("b"))
		q.Schedule(0, record("now"))
		q.Schedule(-time.Second, record("past"))
		time.Sleep(time.Second)
		synctest.Wait()
		want := []run{{"now", 0}, {"past", 0}, {"a", 100 * time.Millisecond}, {"b", 200 * time.Millisecond}, {"c", 300 * time.Millisecond}}
		mu.Lock()
		defer mu.Unlock()
		// "now" and "past" are both due at once: the goroutine may run "now"
		// before "past" is even scheduled, so only their time is checked.
		if len(got) != len(want) {
			t.Fatalf("ran %v, want %v", got, want)
		}
		if got[0].at != 0 || got[1].at != 0 || got[0].name == got[1].name {
			t.Errorf("immediate functions: got %v, want past and now at 0", got[:2])
		}
		if !slices.Equal(got[2:], want[2:]) {
			t.Errorf("delayed functions ran %v, want %v", got[2:], want[2:])
		}
	})
}

func TestQueueEarlierScheduleWakesTheGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := delay.New()
		defer q.Close()
		start := time.Now()
		ran := make(chan time.Duration, 2)
		q.Schedule(time.Hour, func() { ran <- time.Since(start) })
		synctest.Wait() // the goroutine sleeps on the one-hour timer
		q.Schedule(time.Millisecond, func() { ran <- time.Since(start) })
		if d := <-ran; d != time.Millisecond {
			t.Errorf("the short delay ran after %v, want 1ms", d)
		}
		if d := <-ran; d != time.Hour {
			t.Errorf("the long delay ran after %v, want 1h", d)
		}
	})
}

func TestQueueKeepsScheduleOrderForEqualDueTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := delay.New()
		defer q.Close()
		var got []int
		done := make(chan struct{})
		for i := range 50 {
			q.Schedule(time.Second, func() {
				got = append(got, i) // only the queue's goroutine touches got
				if i == 49 {
					close(done)
				}
			})
		}
		<-done
		for i, v := range got {
			if v != i {
				t.Fatalf("functions with equal due times ran in order %v", got)
			}
		}
	})
}

// The heap is checked against a reference: sorting by (due, schedule order).
func TestQueueMatchesASortedReference(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := delay.New()
		defer q.Close()
		r := rand.New(rand.NewPCG(1, 2))
		type ref struct {
			d   time.Duration
			seq int
		}
		var want []ref
		var got []int
		done := make(chan struct{})
		const n = 500
		count := 0
		for i := range n {
			d := time.Duration(r.IntN(50)) * time.Millisecond
			want = append(want, ref{d, i})
			q.Schedule(d, func() {
				got = append(got, i)
				count++
				if count == n {
					close(done)
				}
			})
		}
		<-done
		slices.SortStableFunc(want, func(a, b ref) int { return int(a.d - b.d) })
		for i := range want {
			if got[i] != want[i].seq {
				t.Fatalf("position %d: ran %d, want %d", i, got[i], want[i].seq)
			}
		}
	})
}

func TestQueueCloseReturnsWhatDidNotRunInDueOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := delay.New()
		var ran []string
		mark := func(s string) func() { return func() { ran = append(ran, s) } }
		q.Schedule(3*time.Second, mark("third"))
		q.Schedule(time.Millisecond, mark("first"))
		q.Schedule(2*time.Second, mark("second"))
		time.Sleep(time.Second)
		synctest.Wait()
		if q.Len() != 2 {
			t.Errorf("Len = %d, want 2", q.Len())
		}
		left := q.Close()
		if len(left) != 2 {
			t.Fatalf("Close returned %d functions, want 2", len(left))
		}
		for _, fn := range left {
			fn()
		}
		if !slices.Equal(ran, []string{"first", "second", "third"}) {
			t.Errorf("order = %v", ran)
		}
		if q.Schedule(0, mark("late")) {
			t.Error("Schedule after Close returned true")
		}
		if q.Len() != 0 {
			t.Errorf("Len after Close = %d, want 0", q.Len())
		}
		if again := q.Close(); again != nil {
			t.Errorf("second Close returned %d functions, want nil", len(again))
		}
	})
}

func TestQueueCloseWaitsForTheRunningFunction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := delay.New()
		release := make(chan struct{})
		started := make(chan struct{})
		q.Schedule(0, func() { close(started); <-release })
		<-started
		closed := make(chan struct{})
		go func() { q.Close(); close(closed) }()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a function was still running")
		default:
		}
		close(release)
		<-closed
	})
}

func TestQueueRefusesNilFunctions(t *testing.T) {
	q := delay.New()
	defer q.Close()
	if q.Schedule(0, nil) {
		t.Error("Schedule(nil) returned true")
	}
}

func TestQueueStartsNoGoroutinePerFunction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := delay.New()
		defer q.Close()
		before := runtime.NumGoroutine()
		for range 1000 {
			q.Schedule(time.Hour, func() {})
		}
		if after := runtime.NumGoroutine(); after > before {
			t.Errorf("goroutines went from %d to %d while scheduling 1000 functions", before, after)
		}
		if q.Len() != 1000 {
			t.Errorf("Len = %d, want 1000", q.Len())
		}
	})
}

func BenchmarkQueueSchedule(b *testing.B) {
	q := delay.New()
	defer q.Close()
	var wg sync.WaitGroup
	fn := func() { wg.Done() }
	b.ReportAllocs()
	for b.Loop() {
		wg.Add(1)
		q.Schedule(0, fn)
	}
	wg.Wait()
}
