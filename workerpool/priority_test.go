package workerpool_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/workerpool"
)

// orderLog records the priorities of tasks in the order they ran.
type orderLog struct {
	mu  sync.Mutex
	got []workerpool.Priority
}

func (o *orderLog) task(pr workerpool.Priority) func() {
	return func() {
		o.mu.Lock()
		o.got = append(o.got, pr)
		o.mu.Unlock()
	}
}

func (o *orderLog) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	for _, p := range o.got {
		b.WriteByte("LNHC"[p+1])
	}
	return b.String()
}

// fillThenRun queues the given tasks behind a busy single worker and returns
// the order they ran in, as a string of L, N, H, C.
func fillThenRun(t *testing.T, opts []workerpool.Option, tasks string) string {
	t.Helper()
	p := workerpool.New(1, len(tasks), opts...)
	release := occupy(t, p, 1)
	var log orderLog
	for _, c := range tasks {
		pr := workerpool.Priority(strings.IndexRune("LNHC", c) - 1)
		if err := p.TrySubmitPriority(pr, log.task(pr)); err != nil {
			t.Fatal(err)
		}
	}
	release()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return log.String()
}

// A select over one channel per priority picks at random among the ready
// ones (seed 002's worker loop): these exact orders cannot come out of it.
func TestLanesAreServedByWeightedRoundRobin(t *testing.T) {
	tests := []struct {
		name  string
		opts  []workerpool.Option
		tasks string
		want  string
	}{
		{
			name:  "default weights give 8 high, 4 normal, 1 low per round",
			tasks: strings.Repeat("L", 3) + strings.Repeat("N", 10) + strings.Repeat("H", 20),
			want:  "HHHHHHHHNNNNL" + "HHHHHHHHNNNNL" + "HHHHNNL",
		},
		{
			name:  "an empty lane's share goes to the others",
			tasks: strings.Repeat("L", 5) + strings.Repeat("H", 20),
			want:  "HHHHHHHHL" + "HHHHHHHHL" + "HHHHLLL",
		},
		{
			name:  "custom weights",
			opts:  []workerpool.Option{workerpool.WithWeights(1, 1, 1)},
			tasks: "LLLNNNHHH",
			want:  "HNLHNLHNL",
		},
		{
			name:  "critical is strict and first",
			tasks: "LNHCLNHC",
			want:  "CCHHNNLL",
		},
		{
			name:  "one lane keeps FIFO order",
			tasks: "NNNN",
			want:  "NNNN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fillThenRun(t, tt.opts, tt.tasks); got != tt.want {
				t.Errorf("ran %s\nwant %s", got, tt.want)
			}
		})
	}
}

// The documented bound: the head of the low lane waits at most
// 2 × (8 + 4) = 24 dequeues of the other lanes, with every lane saturated.
func TestLowLaneWaitIsBounded(t *testing.T) {
	tasks := strings.Repeat("H", 200) + strings.Repeat("N", 100) + strings.Repeat("L", 20)
	got := fillThenRun(t, nil, tasks)
	gap, worst := 0, 0
	for _, c := range got[:strings.LastIndexByte(got, 'L')+1] {
		if c == 'L' {
			gap = 0
			continue
		}
		gap++
		worst = max(worst, gap)
	}
	if worst > 24 {
		t.Errorf("a low task waited %d dequeues, the documented bound is 24", worst)
	}
	if !strings.HasPrefix(got, "HHHHHHHHNNNNL") {
		t.Errorf("first round %s, want HHHHHHHHNNNNL", got[:13])
	}
}

// Many producers keep the high lane saturated (blocking on a full queue)
// while low-priority work waits too: low still gets its 1 in 9. Tasks take
// a millisecond of the bubble's fake time, so the producers always keep up.
func TestLowLaneKeepsItsShareUnderSaturatingHighLane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lows = 30
		p := workerpool.New(2, 16)
		release := occupy(t, p, 2)
		var highRan, lowRan atomic.Int64
		var highAtLowDone atomic.Int64
		// The producers stop after a budget of high tasks, so that a pool
		// that starves low fails this test instead of hanging it.
		var budget atomic.Int64
		budget.Store(lows * 8 * 4)
		var producers sync.WaitGroup
		for range 4 {
			producers.Add(1)
			go func() {
				defer producers.Done()
				for budget.Add(-1) >= 0 {
					if p.SubmitPriority(context.Background(), workerpool.PriorityHigh, func() { time.Sleep(time.Millisecond); highRan.Add(1) }) != nil {
						return
					}
				}
			}()
		}
		synctest.Wait() // the queue is full of high tasks and their producers wait
		var lowDone sync.WaitGroup
		lowDone.Add(lows)
		for range lows {
			go func() {
				err := p.SubmitPriority(context.Background(), workerpool.PriorityLow, func() {
					time.Sleep(time.Millisecond)
					if lowRan.Add(1) == lows {
						highAtLowDone.Store(highRan.Load())
					}
					lowDone.Done()
				})
				if err != nil {
					t.Error(err)
					lowDone.Done()
				}
			}()
		}
		synctest.Wait() // the low submits wait for room too
		release()
		lowDone.Wait()
		budget.Store(0)
		producers.Wait()
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		// With 8:0:1 shares low gets 1/9 of the dequeues and of the
		// admissions; allow for the queue's 16 places and start-up.
		high := highAtLowDone.Load()
		if limit := int64(lows*8 + 2*16 + 8); high > limit {
			t.Errorf("%d high tasks ran before the %d low ones were done, want at most %d", high, lows, limit)
		}
		if high < lows {
			t.Errorf("only %d high tasks ran: the high lane was not saturated", high)
		}
	})
}
