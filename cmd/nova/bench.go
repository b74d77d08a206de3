package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/internal/bench/amqpbench"
	"github.com/novaevents/nova/internal/bench/benchkit"
	"github.com/novaevents/nova/internal/bench/busbench"
	"github.com/novaevents/nova/internal/bench/emitterbench"
	"github.com/novaevents/nova/internal/bench/memorybench"
	"github.com/novaevents/nova/internal/bench/pgbench"
	"github.com/novaevents/nova/internal/bench/poolbench"
)

// benchRow is one Nova benchmark and, if it has one, what it is judged
// against: a baseline (a hand-written version of the same job, not Nova)
// or another Nova row.
type benchRow struct {
	name     string
	fn       benchkit.Body
	baseline *baseline
}

// baseline is a yardstick some rows are judged against; it runs once
// however many rows use it.
type baseline struct {
	name string
	fn   benchkit.Body
	nova bool // a Nova row used as the yardstick (the managed emit's)
}

func benchRows() []benchRow {
	var (
		syncDispatch = &baseline{name: "copy-on-write map lookup + interface call", fn: emitterbench.EmitSyncBaseline}
		asyncChan    = &baseline{name: "buffered channel -> GOMAXPROCS goroutines", fn: emitterbench.EmitAsyncBaseline}
		unmanaged    = &baseline{name: "Emitter (sync), unmanaged listener", fn: emitterbench.EmitSync, nova: true}
		partChan1    = &baseline{name: "hash to 1 channel, one consumer", fn: busbench.BusBaselineN(1)}
		partChan4    = &baseline{name: "hash to 4 channels, one consumer each", fn: busbench.BusBaselineN(4)}
		chunked      = &baseline{name: "mutex + chunked slice of events", fn: memorybench.MemoryAppendBaselineEventsOnly}
		small        = &baseline{name: "Store (memory, last 10 of 1k events)", fn: memorybench.MemoryReadLast10(1_000), nova: true}
		taskChan     = &baseline{name: "buffered chan func() -> same workers", fn: poolbench.ChannelBaseline}
	)
	return []benchRow{
		{"Emitter (sync)", emitterbench.EmitSync, syncDispatch},
		{"Emitter (async, until handled)", emitterbench.EmitAsync, asyncChan},
		{"Emitter (sync, managed listener)", emitterbench.EmitSyncManaged, unmanaged},
		{"Bus (AtMostOnce, 1 partition, until handled)", busbench.BusEndToEnd(1, bus.AtMostOnce), partChan1},
		{"Bus (AtLeastOnce, 1 partition, until handled)", busbench.BusEndToEnd(1, bus.AtLeastOnce), partChan1},
		{"Bus (AtMostOnce, 4 partitions, until handled)", busbench.BusEndToEnd(4, bus.AtMostOnce), partChan4},
		{"Bus (AtLeastOnce, 4 partitions, until handled)", busbench.BusEndToEnd(4, bus.AtLeastOnce), partChan4},
		{"Store (memory append)", memorybench.MemoryAppend, chunked},
		{"Store (memory, last 10 of 1M events)", memorybench.MemoryReadLast10(1_000_000), small},
		{"Store (PostgreSQL, one batch of 100 events)", pgbench.PostgresAppendBatch(100), nil},
		{"RabbitMQ (confirmed publish)", amqpbench.AMQPPublish, nil},
		{"Worker pool (submit to done)", poolbench.PoolSubmit, taskChan},
		{"Worker pool (three lanes)", poolbench.PoolThreeLanes, taskChan},
	}
}

// isTerminal reports whether w is a terminal, where progress may redraw
// one line; anywhere else (a log, a pipe) it prints one line per row.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runBench(ctx context.Context, args []string, out, progress io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	benchtime := fs.Duration("benchtime", time.Second, "time to spend on each benchmark")
	filter := fs.String("run", "", "only rows whose name contains this (case-insensitive)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *benchtime <= 0 {
		return fmt.Errorf("-benchtime %v: must be positive", *benchtime)
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
	term := isTerminal(progress)
	step := 0
	total := len(rows)
	seen := map[*baseline]bool{}
	for _, r := range rows {
		if r.baseline != nil && !seen[r.baseline] {
			seen[r.baseline] = true
			total++
		}
	}
	measure := func(name string, fn benchkit.Body) benchkit.Result {
		step++
		if term {
			fmt.Fprintf(progress, "\r\033[K[%d/%d] %s", step, total, name)
		}
		res := benchkit.Measure(fn, *benchtime)
		if !term {
			fmt.Fprintf(progress, "[%d/%d] %s: %s\n", step, total, name, summary(res))
		}
		return res
	}
	results := make([]benchkit.Result, len(rows))
	bases := map[*baseline]benchkit.Result{}
	var order []*baseline
	for i, r := range rows {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		results[i] = measure(r.name, r.fn)
		if b := r.baseline; b != nil {
			if _, done := bases[b]; !done {
				bases[b] = measure("baseline: "+b.name, b.fn)
				order = append(order, b)
			}
		}
	}
	if term {
		fmt.Fprint(progress, "\r\033[K")
	}

	fmt.Fprintln(out, "Nova")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Benchmark\tops/sec\tns/op\tallocs/op\tvs\t")
	var why []string // the reasons of the rows that did not run, under the table
	for i, r := range rows {
		res := results[i]
		if line, ok := problem(res); ok {
			kind, _, _ := strings.Cut(line, ":")
			fmt.Fprintf(tw, "%s\t%s (see below)\t\t\t\t\n", r.name, kind)
			why = append(why, "  "+r.name+": "+line)
			continue
		}
		vs := ""
		if b := r.baseline; b != nil {
			if br := bases[b]; br.N > 0 {
				vs = fmt.Sprintf("%.2fx %s", res.NsPerOp()/br.NsPerOp(), b.name)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.0f\t%s\t\n", r.name, humanRate(1e9/res.NsPerOp()), res.NsPerOp(), res.AllocsPerOp, vs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(why) > 0 {
		fmt.Fprintln(out, strings.Join(why, "\n"))
	}
	if len(order) > 0 {
		fmt.Fprintln(out, "\nBaselines (not Nova: the least a hand-written version of the same job does; rows marked Nova are Nova rows used as a yardstick)")
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "Baseline\tns/op\tallocs/op\t")
		for _, b := range order {
			name := b.name
			if b.nova {
				name += " (Nova)"
			}
			res := bases[b]
			if line, ok := problem(res); ok {
				fmt.Fprintf(tw, "%s\t%s\t\t\n", name, line)
				continue
			}
			fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t\n", name, res.NsPerOp(), res.AllocsPerOp)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// problem is the table cell of a row that did not run: why, and what to
// set to run it.
func problem(r benchkit.Result) (string, bool) {
	switch {
	case r.Skipped != "":
		return "skipped: " + r.Skipped, true
	case r.Err != nil:
		return "failed: " + r.Err.Error(), true
	}
	return "", false
}

// summary is a finished row's line in a log.
func summary(r benchkit.Result) string {
	if line, ok := problem(r); ok {
		return line
	}
	return fmt.Sprintf("%.1f ns/op, %.0f allocs/op (%d ops)", r.NsPerOp(), r.AllocsPerOp, r.N)
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
