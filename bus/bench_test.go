package bus_test

import (
	"strconv"
	"testing"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/internal/bench/benchkit/testb"
	"github.com/novaevents/nova/internal/bench/busbench"
)

// The bodies live in internal/bench/busbench, beside their baseline, so that
// `nova bench` runs the same code. Each run publishes b.N events from one
// goroutine over 64 customer keys and stops the clock when the last one has
// been handled. The baseline hashes the key to one of n buffered channels,
// each drained by one goroutine. Compare the columns with
//
//	go test -run '^$' -bench . -benchmem -count 6 ./bus > bus.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /impl bus.txt

func BenchmarkBus(b *testing.B) {
	for _, parts := range []int{1, 4} {
		p := "partitions=" + strconv.Itoa(parts)
		b.Run(p+"/mode=at-most-once/impl=baseline", testb.F(busbench.BusBaselineN(parts)))
		b.Run(p+"/mode=at-most-once/impl=nova", testb.F(busbench.BusEndToEnd(parts, bus.AtMostOnce)))
		b.Run(p+"/mode=at-least-once/impl=baseline", testb.F(busbench.BusBaselineN(parts)))
		b.Run(p+"/mode=at-least-once/impl=nova", testb.F(busbench.BusEndToEnd(parts, bus.AtLeastOnce)))
	}
}
