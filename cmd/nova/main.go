// Command nova runs Nova's demo, sizing calculator and benchmarks.
//
//	nova demo    run a small order-processing flow on the in-memory defaults
//	nova size    recommend worker, queue and buffer sizes for a workload
//	nova bench   run Nova's benchmarks and print a table
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "demo":
		err = runDemo(ctx, args[1:], stdout)
	case "size":
		err = runSize(args[1:], stdout)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "nova: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "nova %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: nova <command> [flags]

commands:
  demo    run a small order-processing flow on the in-memory defaults
  size    recommend worker, queue and buffer sizes for a workload
  bench   run Nova's benchmarks and print a table

Run "nova <command> -h" for the flags of a command.
`)
}
