package ring_test

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/novaevents/nova/internal/ring"
)

func TestRingMatchesASliceQueue(t *testing.T) {
	for _, capacity := range []int{1, 2, 3, 7, 8, 100} {
		r := ring.New[int](capacity)
		var model []int
		rng := rand.New(rand.NewPCG(uint64(capacity), 1))
		next := 0
		for range 10000 {
			if rng.IntN(2) == 0 {
				ok := r.Push(next)
				if ok != (len(model) < capacity) {
					t.Fatalf("cap %d: Push ok=%v with %d queued", capacity, ok, len(model))
				}
				if ok {
					model = append(model, next)
				}
				next++
			} else {
				v, ok := r.Pop()
				if ok != (len(model) > 0) {
					t.Fatalf("cap %d: Pop ok=%v with %d queued", capacity, ok, len(model))
				}
				if ok {
					if v != model[0] {
						t.Fatalf("cap %d: Pop = %d, want %d", capacity, v, model[0])
					}
					model = model[1:]
				}
			}
			if r.Len() != len(model) {
				t.Fatalf("cap %d: Len = %d, want %d", capacity, r.Len(), len(model))
			}
		}
	}
}

func TestRingConcurrentProducersAndConsumersLoseNothing(t *testing.T) {
	const producers, perProducer = 4, 5000
	r := ring.New[int](64)
	seen := make([]int32, producers*perProducer)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				for !r.Push(p*perProducer + i) {
				}
			}
		}()
	}
	var cwg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 3 {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			last := make(map[int]int) // producer → last index seen, for per-producer order
			for {
				mu.Lock()
				done := got == producers*perProducer
				mu.Unlock()
				if done {
					return
				}
				v, ok := r.Pop()
				if !ok {
					continue
				}
				p, i := v/perProducer, v%perProducer
				if l, ok := last[p]; ok && i <= l {
					t.Errorf("producer %d: %d after %d", p, i, l)
				}
				last[p] = i
				mu.Lock()
				seen[v]++
				got++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cwg.Wait()
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("item %d seen %d times", v, n)
		}
	}
}
