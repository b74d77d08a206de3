package prom

import (
	"sync"
	"sync/atomic"
)

// cache maps label values to their resolved series. Reads are lock-free
// (one atomic load and a map lookup, no allocation); a miss takes the lock,
// resolves the series with mk and publishes a new copy of the map. Label
// values are capped before they get here, so the map stays small; past
// maxCached entries misses are resolved every time instead of stored.
type cache[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex
	mk func(K) V
}

func newCache[K comparable, V any](mk func(K) V) *cache[K, V] {
	return &cache[K, V]{mk: mk}
}

func (c *cache[K, V]) get(k K) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	return c.miss(k)
}

func (c *cache[K, V]) miss(k K) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	var n int
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
		n = len(*old)
	}
	v := c.mk(k)
	if n >= maxCached {
		return v
	}
	m := make(map[K]V, n+1)
	if old != nil {
		for ok, ov := range *old {
			m[ok] = ov
		}
	}
	m[k] = v
	c.m.Store(&m)
	return v
}

// limiter admits up to max distinct label values; later ones become
// OtherLabel. It runs on cache misses only.
type limiter struct {
	mu   sync.Mutex
	seen map[string]struct{}
	max  int
}

func (l *limiter) admit(v string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[v]; ok {
		return v
	}
	if len(l.seen) >= l.max {
		return OtherLabel
	}
	if l.seen == nil {
		l.seen = make(map[string]struct{})
	}
	l.seen[v] = struct{}{}
	return v
}
