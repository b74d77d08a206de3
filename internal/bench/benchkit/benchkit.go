// Package benchkit lets one benchmark body run under `go test -bench`
// (through package testb, in the measured package's tests) and in
// `nova bench` (through Measure), without the nova binary linking the
// testing package: a body takes a B, the methods of testing.B it uses.
//
// It imports nothing of Nova but shared, so a body package that imports it
// and the one package it measures keeps that package's tests free of every
// other dependency.
package benchkit

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/shared"
)

// B is what a body needs of its runner; testing.B has it all.
type B interface {
	N() int
	Loop() bool
	ResetTimer()
	StartTimer()
	StopTimer()
	ReportAllocs()
	ReportMetric(n float64, unit string)
	RunParallel(body func(PB))
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// PB is the iterator RunParallel hands its goroutines (testing.PB).
type PB interface{ Next() bool }

// Body is one benchmark.
type Body func(B)

// Procs is runtime.GOMAXPROCS(0): the cores a body may use.
func Procs() int { return runtime.GOMAXPROCS(0) }

// NoopListener returns a listener that succeeds at once.
func NoopListener(id string) shared.Listener {
	return shared.NewBaseListener(id, func(shared.Event) error { return nil })
}

// DoneCounter closes Done when Add has been called want times: a body
// waits on it until every event it sent has been handled.
type DoneCounter struct {
	n    atomic.Int64
	want int64
	Done chan struct{}
}

// NewDoneCounter returns a counter of want.
func NewDoneCounter(want int) *DoneCounter {
	return &DoneCounter{want: int64(want), Done: make(chan struct{})}
}

// Add counts one.
func (d *DoneCounter) Add() {
	if d.n.Add(1) == d.want {
		close(d.Done)
	}
}

// Result is what Measure found.
type Result struct {
	N           int
	Elapsed     time.Duration
	AllocsPerOp float64
	Metrics     map[string]float64 // ReportMetric's, by unit
	Skipped     string             // the Skipf message of a body that could not run
	Err         error              // the Fatal message of a body that failed
}

// NsPerOp is the time per operation.
func (r Result) NsPerOp() float64 {
	if r.N == 0 {
		return 0
	}
	return float64(r.Elapsed.Nanoseconds()) / float64(r.N)
}

// Measure runs body with a growing N, as go test does, until one run takes
// at least benchtime (or N reaches a billion), and returns that run.
func Measure(body Body, benchtime time.Duration) Result {
	n := 1
	for {
		r := runOnce(body, n)
		if r.Skipped != "" || r.Err != nil || r.Elapsed >= benchtime || n >= 1e9 {
			return r
		}
		// Aim 20% past benchtime, growing at most 100× and at least by one.
		next := n * 100
		if r.Elapsed > 0 {
			next = int(float64(n) * 1.2 * float64(benchtime) / float64(r.Elapsed))
		}
		n = max(min(next, n*100, 1e9), n+1)
	}
}

// abort ends a body: Fatal and Skipf panic with it, Measure recovers it.
type abort struct {
	msg  string
	skip bool
}

func runOnce(body Body, n int) (res Result) {
	r := &runner{n: n, metrics: map[string]float64{}}
	runtime.GC()
	defer func() {
		if v := recover(); v != nil {
			a, ok := v.(abort)
			if !ok {
				panic(v)
			}
			if a.skip {
				res = Result{Skipped: a.msg}
			} else {
				res = Result{Err: fmt.Errorf("%s", a.msg)}
			}
		}
	}()
	r.StartTimer()
	body(r)
	r.StopTimer()
	return Result{N: n, Elapsed: r.elapsed, AllocsPerOp: float64(r.mallocs) / float64(n), Metrics: r.metrics}
}

// runner is Measure's B.
type runner struct {
	n       int
	loops   int
	timing  bool
	start   time.Time
	elapsed time.Duration
	m0      uint64
	mallocs uint64
	metrics map[string]float64
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

func (r *runner) N() int { return r.n }

func (r *runner) StartTimer() {
	if !r.timing {
		r.timing = true
		r.m0 = mallocs()
		r.start = time.Now()
	}
}

func (r *runner) StopTimer() {
	if r.timing {
		r.elapsed += time.Since(r.start)
		r.mallocs += mallocs() - r.m0
		r.timing = false
	}
}

func (r *runner) ResetTimer() {
	if r.timing {
		r.m0 = mallocs()
		r.start = time.Now()
	}
	r.elapsed, r.mallocs = 0, 0
}

// Loop is testing.B.Loop: true n times, the timer reset on the first call
// and stopped after the last.
func (r *runner) Loop() bool {
	if r.loops == 0 {
		r.ResetTimer()
	}
	if r.loops < r.n {
		r.loops++
		return true
	}
	r.StopTimer()
	return false
}

func (r *runner) ReportAllocs()                       {}
func (r *runner) ReportMetric(n float64, unit string) { r.metrics[unit] = n }

func (r *runner) RunParallel(body func(PB)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range Procs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(&pb{next: &next, n: int64(r.n)})
		}()
	}
	wg.Wait()
}

type pb struct {
	next *atomic.Int64
	n    int64
}

func (p *pb) Next() bool { return p.next.Add(1) <= p.n }

func (r *runner) Fatal(args ...any) { panic(abort{msg: fmt.Sprint(args...)}) }
func (r *runner) Fatalf(format string, args ...any) {
	panic(abort{msg: fmt.Sprintf(format, args...)})
}
func (r *runner) Skipf(format string, args ...any) {
	panic(abort{msg: fmt.Sprintf(format, args...), skip: true})
}
