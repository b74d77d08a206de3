package emitter_test

import (
	"testing"

	"github.com/novaevents/nova/internal/bench/benchkit/testb"
	"github.com/novaevents/nova/internal/bench/emitterbench"
)

// The bodies live in internal/bench/emitterbench, next to their baselines, so that
// `nova bench` runs the same code. Compare the two columns with
//
//	go test -run '^$' -bench . -count 6 ./emitter > emitter.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /impl emitter.txt

func BenchmarkEmitSync(b *testing.B) {
	b.Run("impl=baseline", testb.F(emitterbench.EmitSyncBaseline))
	b.Run("impl=nova", testb.F(emitterbench.EmitSync))
}

func BenchmarkEmitAsync(b *testing.B) {
	b.Run("impl=baseline", testb.F(emitterbench.EmitAsyncBaseline))
	b.Run("impl=nova", testb.F(emitterbench.EmitAsync))
}

// A listener registered with a listener manager against the same listener
// unmanaged: the manager's cost on the success path.
func BenchmarkEmitSyncManaged(b *testing.B) {
	b.Run("impl=baseline", testb.F(emitterbench.EmitSync))
	b.Run("impl=nova", testb.F(emitterbench.EmitSyncManaged))
}
