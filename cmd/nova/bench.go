package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/internal/bench"
)

// benchRow is one line of the table: a Nova benchmark and, if it has one,
// the baseline it is judged against.
type benchRow struct {
	name     string
	fn       func(*testing.B)
	baseline func(*testing.B)
}

func benchRows() []benchRow {
	return []benchRow{
		{"Emitter (sync)", bench.EmitSync, bench.EmitSyncBaseline},
		{"Emitter (async, until handled)", bench.EmitAsync, bench.EmitAsyncBaseline},
		{"Emitter (sync, managed listener)", bench.EmitSyncManaged, bench.EmitSync},
		{"Bus (AtMostOnce, 1 partition, until handled)", bench.BusEndToEnd(1, bus.AtMostOnce), bench.BusBaselineN(1)},
		{"Bus (AtLeastOnce, 1 partition, until handled)", bench.BusEndToEnd(1, bus.AtLeastOnce), bench.BusBaselineN(1)},
		{"Bus (AtMostOnce, 4 partitions, until handled)", bench.BusEndToEnd(4, bus.AtMostOnce), bench.BusBaselineN(4)},
		{"Bus (AtLeastOnce, 4 partitions, until handled)", bench.BusEndToEnd(4, bus.AtLeastOnce), bench.BusBaselineN(4)},
		{"Store (memory append)", bench.MemoryAppend, bench.MemoryAppendBaselineEventsOnly},
		{"Store (memory, last 10 of 1M events)", bench.MemoryReadLast10(1_000_000), bench.MemoryReadLast10(1_000)},
		{"Store (PostgreSQL, one batch of 100 events)", bench.PostgresAppendBatch(100), nil},
		{"RabbitMQ (confirmed publish)", bench.AMQPPublish, nil},
		{"Worker pool (submit to done)", bench.PoolSubmit, bench.ChannelBaseline},
		{"Worker pool (three lanes)", bench.PoolThreeLanes, bench.ChannelBaseline},
	}
}

func runBench(ctx context.Context, args []string, out, progress io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	benchtime := fs.Duration("benchtime", time.Second, "time to spend on each benchmark")
	filter := fs.String("run", "", "only rows whose name contains this (case-insensitive)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	testing.Init()
	if err := flagSet("test.benchtime", benchtime.String()); err != nil {
		return err
	}
	var rows []benchRow
	for _, r := range benchRows() {
		if *filter == "" || strings.Contains(strings.ToLower(r.name), strings.ToLower(*filter)) {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return fmt.Errorf("no benchmark matches %q", *filter)
	}
	type result struct {
		row       benchRow
		res, base testing.BenchmarkResult
	}
	var results []result
	for i, r := range rows {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(progress, "\r[%d/%d] %-40s", i+1, len(rows), r.name)
		res := result{row: r, res: testing.Benchmark(r.fn)}
		if r.baseline != nil {
			fmt.Fprintf(progress, "\r[%d/%d] %-40s", i+1, len(rows), r.name+" (baseline)")
			res.base = testing.Benchmark(r.baseline)
		}
		results = append(results, res)
	}
	fmt.Fprintf(progress, "\r%-60s\r", "")
	width := len("Benchmark")
	for _, r := range results {
		width = max(width, len(r.row.name))
	}
	name := func(s string) string { return fmt.Sprintf("%-*s", width, s) } // left-aligned in a right-aligned table
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tops/sec\tns/op\tallocs/op\tbaseline ns/op\tvs baseline\t\n", name("Benchmark"))
	for _, r := range results {
		if r.res.N == 0 {
			fmt.Fprintf(tw, "%s\tskipped\t\t\t\t\t\n", name(r.row.name))
			continue
		}
		ns := float64(r.res.T.Nanoseconds()) / float64(r.res.N)
		base, ratio := "", ""
		if r.base.N > 0 {
			bns := float64(r.base.T.Nanoseconds()) / float64(r.base.N)
			base = fmt.Sprintf("%.1f", bns)
			ratio = fmt.Sprintf("%.2fx", ns/bns)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%d\t%s\t%s\t\n", name(r.row.name), humanRate(1e9/ns), ns, r.res.AllocsPerOp(), base, ratio)
	}
	return tw.Flush()
}

func humanRate(perSec float64) string {
	switch {
	case perSec >= 1e6:
		return fmt.Sprintf("%.1fM", perSec/1e6)
	case perSec >= 1e3:
		return fmt.Sprintf("%.1fk", perSec/1e3)
	}
	return fmt.Sprintf("%.0f", perSec)
}
