// Package testb runs benchkit bodies as go test benchmarks. Only _test.go
// files import it: it links the testing package, which the nova binary
// must not.
package testb

import (
	"testing"

	"github.com/novaevents/nova/internal/bench/benchkit"
)

// F turns a body into a benchmark function for b.Run.
func F(body benchkit.Body) func(*testing.B) {
	return func(b *testing.B) { body(tb{b}) }
}

type tb struct{ *testing.B }

func (t tb) N() int { return t.B.N }

func (t tb) RunParallel(body func(benchkit.PB)) {
	t.B.RunParallel(func(pb *testing.PB) { body(pb) })
}
