package amqp

import (
	"sync/atomic"
	"time"
)

// histogramBounds are the upper bounds of the latency buckets: 50µs
// doubling up to about 26s, and one bucket for anything slower.
var histogramBounds = func() []time.Duration {
	b := make([]time.Duration, 20)
	for i := range b {
		b[i] = 50 * time.Microsecond << i
	}
	return b
}()

// Histogram is a snapshot of durations counted in exponential buckets.
type Histogram struct {
	// Bounds are the buckets' inclusive upper bounds; Counts has one more
	// entry, for values above the last bound.
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// Quantile returns the upper bound of the bucket holding quantile q
// (0 < q ≤ 1), or 0 for an empty histogram. The true value is at most that
// and more than the previous bound.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(q*float64(h.Count) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			if i < len(h.Bounds) {
				return h.Bounds[i]
			}
			break
		}
	}
	return h.Bounds[len(h.Bounds)-1] * 2
}

// Mean returns the average, or 0.
func (h Histogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / time.Duration(h.Count)
}

type histogram struct {
	counts [21]atomic.Uint64
	sum    atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(histogramBounds) && d > histogramBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

func (h *histogram) snapshot() Histogram {
	s := Histogram{Bounds: append([]time.Duration(nil), histogramBounds...), Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}
