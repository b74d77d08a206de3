package postgres_test

import (
	"strconv"
	"testing"

	"github.com/novaevents/nova/internal/bench/benchkit/testb"
	"github.com/novaevents/nova/internal/bench/pgbench"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/postgres"
	"github.com/novaevents/nova/store/storetest"
)

// Run with (PostgreSQL on NOVA_POSTGRES_URL):
//
//	go test -run '^$' -bench . -benchmem -count 6 ./store/postgres/

// BenchmarkAppendBatch appends batches of 1 to 1,000 events, each batch one
// transaction, and reports events/s: the figure to size PostgreSQL appends
// by.
func BenchmarkAppendBatch(b *testing.B) {
	for _, size := range []int{1, 10, 100, 1000} {
		b.Run("size="+strconv.Itoa(size), testb.F(pgbench.PostgresAppendBatch(size)))
	}
}

// BenchmarkStore is the benchmark every store runs (storetest.Bench).
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.EventStore { return newStore(b, postgres.Config{}) })
}
