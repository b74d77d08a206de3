package workerpool_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/novaevents/nova/workerpool"
)

// refPool is the reference model: a one-worker pool written as plainly as
// possible, with slices for lanes and no concurrency. Lanes are indexed
// 0 critical, 1 high, 2 normal, 3 low.
type refPool struct {
	capacity int
	policy   workerpool.Overflow
	weights  [4]int
	credits  [4]int
	lanes    [4][]refTask
	seq      int
	running  int // task id, or -1 when the worker is idle

	submitted, completed, rejected, evicted                int
	laneSubmitted, laneDequeued, laneEvicted, laneRejected [4]int
}

type refTask struct{ id, seq int }

func newRefPool(capacity int, policy workerpool.Overflow, weights [4]int) *refPool {
	return &refPool{capacity: capacity, policy: policy, weights: weights, credits: weights, running: -1}
}

func (m *refPool) queued() int {
	n := 0
	for _, l := range m.lanes {
		n += len(l)
	}
	return n
}

// submit returns the error the pool should return and the evicted task id
// (-1 if none). cancelled says the call was SubmitPriority with a ctx that
// is already done; otherwise it was TrySubmitPriority.
func (m *refPool) submit(id, lane int, cancelled bool) (error, int) {
	accept := func() {
		m.submitted++
		m.laneSubmitted[lane]++
	}
	push := func() {
		m.lanes[lane] = append(m.lanes[lane], refTask{id, m.seq})
		m.seq++
	}
	reject := func(err error) (error, int) {
		m.rejected++
		m.laneRejected[lane]++
		return err, -1
	}
	evict := func(v int) (error, int) {
		victim := m.lanes[v][0]
		m.lanes[v] = m.lanes[v][1:]
		m.evicted++
		m.laneEvicted[v]++
		accept()
		push()
		return nil, victim.id
	}
	switch {
	case m.running < 0:
		accept()
		m.running = id
		return nil, -1
	case m.queued() < m.capacity:
		accept()
		push()
		return nil, -1
	}
	switch m.policy {
	case workerpool.RejectNew:
		return reject(workerpool.ErrQueueFull)
	case workerpool.EvictOldest:
		best := -1
		for v := range 4 {
			if len(m.lanes[v]) > 0 && (best < 0 || m.lanes[v][0].seq < m.lanes[best][0].seq) {
				best = v
			}
		}
		return evict(best)
	case workerpool.EvictLowerPriority:
		for v := 3; v > lane; v-- {
			if len(m.lanes[v]) > 0 {
				return evict(v)
			}
		}
		return reject(workerpool.ErrQueueFull)
	}
	if cancelled {
		return reject(context.Canceled)
	}
	return reject(workerpool.ErrQueueFull)
}

// step finishes the running task and returns the one that starts next, or -1.
func (m *refPool) step() int {
	m.completed++
	m.running = -1
	if m.queued() == 0 {
		return -1
	}
	lane := -1
	if len(m.lanes[0]) > 0 {
		lane = 0
	}
	for lane < 0 {
		for l := 1; l < 4; l++ {
			if m.credits[l] > 0 && len(m.lanes[l]) > 0 {
				lane = l
				m.credits[l]--
				break
			}
		}
		if lane < 0 {
			m.credits = m.weights
		}
	}
	m.running = m.lanes[lane][0].id
	m.lanes[lane] = m.lanes[lane][1:]
	m.laneDequeued[lane]++
	if m.queued() == 0 {
		m.credits = m.weights
	}
	return m.running
}

// TestPoolMatchesReferenceModel drives a one-worker pool and the model with
// the same random operations and compares every outcome: each submit's
// error, each eviction, the order tasks start in, and the final counters.
func TestPoolMatchesReferenceModel(t *testing.T) {
	runs := 300
	if testing.Short() {
		runs = 40
	}
	policies := []workerpool.Overflow{workerpool.Block, workerpool.RejectNew, workerpool.EvictOldest, workerpool.EvictLowerPriority}
	for seed := range uint64(runs) {
		rng := rand.New(rand.NewPCG(seed, 42))
		capacity := 1 + rng.IntN(6)
		policy := policies[rng.IntN(len(policies))]
		weights := [4]int{0, 8, 4, 1}
		var opts []workerpool.Option
		if rng.IntN(2) == 0 {
			weights = [4]int{0, 1 + rng.IntN(5), 1 + rng.IntN(5), 1 + rng.IntN(5)}
			opts = append(opts, workerpool.WithWeights(weights[1], weights[2], weights[3]))
		}
		name := fmt.Sprintf("seed %d: queue %d, %v, weights %v", seed, capacity, policy, weights[1:])
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				runModel(t, rng, capacity, policy, weights, opts)
			})
		})
	}
}

func runModel(t *testing.T, rng *rand.Rand, capacity int, policy workerpool.Overflow, weights [4]int, opts []workerpool.Option) {
	var (
		evicting atomic.Bool
		evicted  []int // appended by OnEvict, in the test goroutine
		mu       sync.Mutex
		started  []int
		release  = make(chan struct{})
	)
	opts = append(opts, workerpool.WithOverflow(policy), workerpool.WithOnEvict(func(task func(), _ workerpool.Priority) {
		evicting.Store(true)
		task() // the task records its id instead of running
		evicting.Store(false)
	}))
	p := workerpool.New(1, capacity, opts...)
	t.Cleanup(func() { // also when a check fails with a task still holding the worker
		close(release)
		_ = p.Close(context.Background())
	})
	m := newRefPool(capacity, policy, weights)
	synctest.Wait() // the worker is parked
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	newTask := func(id int) func() {
		return func() {
			if evicting.Load() {
				evicted = append(evicted, id)
				return
			}
			mu.Lock()
			started = append(started, id)
			mu.Unlock()
			<-release
		}
	}
	var wantStarted []int
	check := func(op string) {
		t.Helper()
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(started, wantStarted) {
			t.Fatalf("after %s: tasks started %v, model says %v", op, started, wantStarted)
		}
	}

	for id := range 80 {
		if m.running >= 0 && rng.IntN(10) < 3 {
			release <- struct{}{}
			if next := m.step(); next >= 0 {
				wantStarted = append(wantStarted, next)
			}
			check("a task finished")
			continue
		}
		lane := rng.IntN(4)
		pr := workerpool.Priority(2 - lane)
		withCtx := rng.IntN(4) == 0
		wasIdle := m.running < 0
		wantErr, wantEvicted := m.submit(id, lane, withCtx)
		if wasIdle && wantErr == nil {
			wantStarted = append(wantStarted, id)
		}
		evicted = evicted[:0]
		var err error
		if withCtx {
			err = p.SubmitPriority(cancelled, pr, newTask(id))
		} else {
			err = p.TrySubmitPriority(pr, newTask(id))
		}
		op := fmt.Sprintf("submit of task %d at %v (ctx done: %v)", id, pr, withCtx)
		if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
			t.Fatalf("%s: got %v, model says %v", op, err, wantErr)
		}
		var wantEv []int
		if wantEvicted >= 0 {
			wantEv = []int{wantEvicted}
		}
		if !slices.Equal(evicted, wantEv) {
			t.Fatalf("%s: evicted %v, model says %v", op, evicted, wantEv)
		}
		check(op)
	}
	for m.running >= 0 {
		release <- struct{}{}
		if next := m.step(); next >= 0 {
			wantStarted = append(wantStarted, next)
		}
		check("draining")
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	checkInvariant(t, s)
	got := []int{int(s.Submitted), int(s.Completed), int(s.Rejected), int(s.Evicted)}
	want := []int{m.submitted, m.completed, m.rejected, m.evicted}
	if !slices.Equal(got, want) {
		t.Errorf("submitted, completed, rejected, evicted = %v, model says %v", got, want)
	}
	for l := range 4 {
		ls := s.Lanes[l]
		got := []int{int(ls.Submitted), int(ls.Dequeued), int(ls.Evicted), int(ls.Rejected)}
		want := []int{m.laneSubmitted[l], m.laneDequeued[l], m.laneEvicted[l], m.laneRejected[l]}
		if !slices.Equal(got, want) {
			t.Errorf("%v lane: submitted, dequeued, evicted, rejected = %v, model says %v", ls.Priority, got, want)
		}
	}
}
