package workerpool_test

import (
	"testing"

	"github.com/novaevents/nova/internal/bench/benchkit/testb"
	"github.com/novaevents/nova/internal/bench/poolbench"
)

// The bodies live in internal/bench/poolbench, beside their baseline (a buffered
// chan func() drained by the same number of worker goroutines), so that
// `nova bench` runs exactly the same code. Each benchmark is timed from the
// first submit until the last task has run. Compare the columns with
//
//	go test -run '^$' -bench . -count 6 ./workerpool > pool.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /impl pool.txt
//
// Targets: one lane ≤ 1.2× the baseline (the issue-2 bound is 1.5×), three
// lanes ≤ 3×, all 0 allocs/op and 0 drops/op.

// BenchmarkPoolSubmit: Submit into one lane.
func BenchmarkPoolSubmit(b *testing.B) {
	b.Run("impl=baseline", testb.F(poolbench.ChannelBaseline))
	b.Run("impl=nova", testb.F(poolbench.PoolSubmit))
}

// BenchmarkPoolThreeLanes: high, normal and low in turn.
func BenchmarkPoolThreeLanes(b *testing.B) {
	b.Run("impl=baseline", testb.F(poolbench.ChannelBaseline))
	b.Run("impl=nova", testb.F(poolbench.PoolThreeLanes))
}

// BenchmarkPoolSubmitParallel: submits from GOMAXPROCS goroutines.
func BenchmarkPoolSubmitParallel(b *testing.B) {
	b.Run("impl=baseline", testb.F(poolbench.ChannelBaselineParallel))
	b.Run("impl=nova", testb.F(poolbench.PoolSubmitParallel))
}
