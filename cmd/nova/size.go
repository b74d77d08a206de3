package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/novaevents/nova/workerpool"
)

func runSize(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("size", flag.ContinueOnError)
	fs.SetOutput(out)
	kind := fs.String("workload", "mixed", "kind of handler work: cpu, mixed or io")
	rate := fs.Int("rate", 0, "sustained events per second (0: unknown)")
	burst := fs.Duration("burst", 0, "length of the bursts the queue must absorb, e.g. 100ms (0: unknown)")
	processing := fs.Duration("processing", 0, "average time one handler takes, e.g. 10ms (0: unknown)")
	partitions := fs.Int("partitions", 0, "bus partitions to split the buffer over (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	w, err := workerpool.ParseWorkload(*kind)
	if err != nil {
		return err
	}
	if *rate < 0 || *burst < 0 || *processing < 0 || *partitions < 0 {
		return fmt.Errorf("-rate, -burst, -processing and -partitions must not be negative")
	}
	r := workerpool.Recommend(w, *rate, *burst, *processing)

	fmt.Fprintf(out, "Sizing for a %s workload on GOMAXPROCS=%d\n\n", w, runtime.GOMAXPROCS(0))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  workers\t%d\tworkerpool.New(%d, %d)\n", r.Workers, r.Workers, r.QueueSize)
	fmt.Fprintf(tw, "  queue\t%d\t%s\n", r.QueueSize, queueWhy(*rate, *burst, r))
	fmt.Fprintf(tw, "  buffer\t%d\temitter.Config{BufferSize: %d}\n", r.BufferSize, r.BufferSize)
	if *partitions > 0 {
		per := (r.BufferSize + *partitions - 1) / *partitions
		fmt.Fprintf(tw, "  per partition\t%d\tbus.TopicConfig{Partitions: %d, BufferSize: %d}\n", per, *partitions, per)
	}
	if r.Capacity > 0 {
		fmt.Fprintf(tw, "  capacity\t%.0f/s\tutilization %.0f%%\n", r.Capacity, r.Utilization*100)
	}
	tw.Flush()
	if r.Saturated {
		fmt.Fprintf(out, "\nwarning: %d events/s exceeds what %d workers can finish (%.0f/s); no queue absorbs that.\n",
			*rate, r.Workers, r.Capacity)
	}
	fmt.Fprintf(out, "\nworkers: %s × GOMAXPROCS for %s work, raised to cover rate × processing time at %.0f%% utilization\n",
		multiplierName(w), w, workerpool.TargetUtilization*100)
	return nil
}

func queueWhy(rate int, burst time.Duration, r workerpool.Recommendation) string {
	if rate > 0 && burst > 0 {
		return fmt.Sprintf("%d events/s × %v burst", rate, burst)
	}
	return fmt.Sprintf("workers × %d (give -rate and -burst to size it)", workerpool.DefaultQueueFactor)
}

func multiplierName(w workerpool.Workload) string {
	switch w {
	case workerpool.WorkloadCPU:
		return "1"
	case workerpool.WorkloadIO:
		return "4"
	}
	return "2"
}
