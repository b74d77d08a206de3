// Package attempts numbers a listener's attempts on an event for the
// observe middlewares, which wrap a listener and are called once per
// attempt without being told which one it is.
//
// A Table remembers, per listener and event ID, how many attempts failed;
// the next call is attempt failures+1, and a success forgets the pair. It
// is bounded: past its size an arbitrary entry is forgotten (an event given
// up on leaves one behind), so a number is exact unless more than that many
// events are failing at once. When nothing is failing, Start and Done cost
// one atomic load each.
//
// A dispatcher that knows the number (a RabbitMQ delivery counts its
// retries in a header) puts it in the context with WithAttempt, which wins.
package attempts

import (
	"context"
	"sync"
	"sync/atomic"
)

// DefaultSize is the entries a zero Table keeps.
const DefaultSize = 10000

type key struct{ listener, event string }

// Table counts failed attempts. The zero value is ready to use and safe for
// concurrent use.
type Table struct {
	n    atomic.Int64 // len(m), read without the lock
	mu   sync.Mutex
	m    map[key]int
	Size int // entries kept; 0 means DefaultSize
}

// Start returns the number of the attempt about to be made: the one in
// ctx if a dispatcher put one there, otherwise 1 + the failures recorded.
func (t *Table) Start(ctx context.Context, listener, event string) int {
	if n, ok := ctx.Value(ctxKey{}).(int); ok && n > 0 {
		return n
	}
	if t.n.Load() == 0 {
		return 1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[key{listener, event}] + 1
}

// Done records the outcome of an attempt.
func (t *Table) Done(listener, event string, failed bool) {
	if !failed {
		if t.n.Load() == 0 {
			return
		}
		t.mu.Lock()
		delete(t.m, key{listener, event})
		t.n.Store(int64(len(t.m)))
		t.mu.Unlock()
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[key]int)
	}
	k := key{listener, event}
	if _, ok := t.m[k]; !ok {
		size := t.Size
		if size <= 0 {
			size = DefaultSize
		}
		for old := range t.m {
			if len(t.m) < size {
				break
			}
			delete(t.m, old)
		}
	}
	t.m[k]++
	t.n.Store(int64(len(t.m)))
}

type ctxKey struct{}

// WithAttempt returns ctx carrying the attempt number n.
func WithAttempt(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, ctxKey{}, n)
}
