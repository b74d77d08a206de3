package prom

import (
	"math"
	"math/bits"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
)

// Nova's families keep their series in plain atomics rather than in
// client_golang's vectors: an increment is one atomic addition, a histogram
// observation a bucket search and two additions (the count is the sum of
// the buckets, so it always agrees with them), and the values are turned
// into metrics only when Prometheus scrapes.
//
// Each series is striped: its values are split over a few cache lines and
// every update picks one at random, so that goroutines on different cores
// (an emitter's drainers, a bus's partitions) seldom write the same line.
// Collecting sums the stripes.

// stripes is the number of stripes per series: a power of two, twice
// GOMAXPROCS at start, between 2 and 16.
var stripes = min(16, max(2, 1<<bits.Len(uint(2*runtime.GOMAXPROCS(0)-1))))

// stripeShift keeps the top log2(stripes) bits of a 32-bit hash.
var stripeShift = 32 - bits.Len(uint(stripes-1))

// stripe picks the stripe of one report; a report that updates several
// series picks once for all of them. It hashes the address of the
// reporting goroutine's stack rather than drawing a random number (which
// cost more than the addition it spreads): a goroutine keeps to one stripe
// while its stack stays where it is, and goroutines, whose stacks lie
// kilobytes apart, spread over the stripes.
func stripe() int {
	var here byte
	a := uint32(uintptr(unsafe.Pointer(&here)) >> 10)
	return int(a * 0x9e3779b9 >> stripeShift)
}

// line is one stripe of a counter, alone on its cache line.
type line struct {
	v atomic.Uint64
	_ [56]byte
}

// counter is one counter series.
type counter struct {
	lines  []line
	labels []string
}

func newCounter(labels []string) *counter {
	return &counter{lines: make([]line, stripes), labels: labels}
}

func (c *counter) add(stripe int) { c.lines[stripe].v.Add(1) }

func (c *counter) value() uint64 {
	var n uint64
	for i := range c.lines {
		n += c.lines[i].v.Load()
	}
	return n
}

// histogram is one histogram series. Observations are integers (nanoseconds
// or bytes); sum is in the same unit and scaled when collected. Each stripe
// holds a count per bucket (the last one +Inf) and the sum, padded to whole
// cache lines.
type histogram struct {
	bounds []int64 // upper bounds, in the observations' unit
	width  int     // words per stripe
	words  []atomic.Uint64
	labels []string
}

func newHistogram(bounds []int64, labels []string) *histogram {
	width := (len(bounds) + 2 + 7) &^ 7
	return &histogram{bounds: bounds, width: width, words: make([]atomic.Uint64, width*stripes), labels: labels}
}

func (h *histogram) observe(stripe int, v int64) {
	// Binary search for the first bound >= v; len(bounds) is the +Inf bucket.
	lo, hi := 0, len(h.bounds)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if h.bounds[mid] < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	s := h.words[stripe*h.width:]
	s[lo].Add(1)
	s[len(h.bounds)+1].Add(uint64(v))
}

// snapshot returns the count per bucket and the sum, over all stripes.
func (h *histogram) snapshot() (counts []uint64, sum int64) {
	counts = make([]uint64, len(h.bounds)+1)
	for st := 0; st < len(h.words); st += h.width {
		for i := range counts {
			counts[i] += h.words[st+i].Load()
		}
		sum += int64(h.words[st+len(h.bounds)+1].Load())
	}
	return counts, sum
}

type family struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	keys map[string]int
	// counters or hists, append-only: Collect reads a prefix under mu.
	counters []*counter
	hists    []*histogram
	// histogram families only
	bounds []float64 // upper bounds as exposed
	ibound []int64   // the same in the observations' unit
	scale  float64   // exposed value of one unit
}

func newCounterFamily(name, help string, cl prometheus.Labels, labels ...string) *family {
	return &family{desc: prometheus.NewDesc(name, help, labels, cl), keys: map[string]int{}}
}

// newHistogramFamily makes a histogram family whose observations are in
// units worth scale of the exposed unit (1e-9 for nanoseconds exposed as
// seconds).
func newHistogramFamily(name, help string, bounds []float64, scale float64, cl prometheus.Labels, labels ...string) *family {
	f := &family{desc: prometheus.NewDesc(name, help, labels, cl), keys: map[string]int{}, bounds: bounds, scale: scale}
	for _, b := range bounds {
		f.ibound = append(f.ibound, int64(math.Round(b/scale)))
	}
	return f
}

func (f *family) key(labels []string) string { return strings.Join(labels, "\xff") }

// counter returns the series of labels, creating it.
func (f *family) counter(labels ...string) *counter {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.key(labels)
	if i, ok := f.keys[k]; ok {
		return f.counters[i]
	}
	c := newCounter(labels)
	f.keys[k] = len(f.counters)
	f.counters = append(f.counters, c)
	return c
}

// histogram returns the series of labels, creating it.
func (f *family) histogram(labels ...string) *histogram {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.key(labels)
	if i, ok := f.keys[k]; ok {
		return f.hists[i]
	}
	h := newHistogram(f.ibound, labels)
	f.keys[k] = len(f.hists)
	f.hists = append(f.hists, h)
	return h
}

func (f *family) collect(ch chan<- prometheus.Metric) {
	f.mu.Lock()
	counters, hists := f.counters, f.hists
	f.mu.Unlock()
	for _, c := range counters {
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.CounterValue, float64(c.value()), c.labels...)
	}
	for _, h := range hists {
		counts, sum := h.snapshot()
		buckets := make(map[float64]uint64, len(f.bounds))
		var n uint64
		for i, b := range f.bounds {
			n += counts[i]
			buckets[b] = n
		}
		n += counts[len(f.bounds)]
		ch <- prometheus.MustNewConstHistogram(f.desc, n, float64(sum)*f.scale, buckets, h.labels...)
	}
}

// families is the collector of Nova's event metrics.
type families []*family

func (fs families) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range fs {
		ch <- f.desc
	}
}

func (fs families) Collect(ch chan<- prometheus.Metric) {
	for _, f := range fs {
		f.collect(ch)
	}
}
