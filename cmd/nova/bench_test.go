package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The bus has a row for 1 and 4 partitions in both AtMostOnce and
// AtLeastOnce, each with its baseline.
func TestBenchHasABusRowPerPartitionCountAndMode(t *testing.T) {
	rows := benchRows()
	for _, want := range []string{
		"Bus (AtMostOnce, 1 partition, until handled)",
		"Bus (AtLeastOnce, 1 partition, until handled)",
		"Bus (AtMostOnce, 4 partitions, until handled)",
		"Bus (AtLeastOnce, 4 partitions, until handled)",
	} {
		i := slices.IndexFunc(rows, func(r benchRow) bool { return r.name == want })
		if i < 0 {
			t.Errorf("no row %q", want)
			continue
		}
		if rows[i].fn == nil || rows[i].baseline == nil {
			t.Errorf("row %q lacks its benchmark or its baseline", want)
		}
	}
}

// In a log (not a terminal) progress is one line per finished row, never a
// carriage return; Nova's rows and the baselines are two tables.
func TestBenchOutputReadsInALog(t *testing.T) {
	var out, progress bytes.Buffer
	if err := runBench(context.Background(), []string{"-benchtime", "20ms", "-run", "emitter (sync)"}, &out, &progress); err != nil {
		t.Fatal(err)
	}
	all := out.String() + progress.String()
	if strings.Contains(all, "\r") || strings.Contains(all, "\033[") {
		t.Errorf("output for a log holds terminal control characters:\n%q", all)
	}
	if got := strings.Count(progress.String(), "\n"); got != 2 { // the row and its baseline
		t.Errorf("progress has %d lines, want one per row measured (2):\n%s", got, progress.String())
	}
	nova, baselines, ok := strings.Cut(out.String(), "\nBaselines (not Nova")
	if !ok || !strings.HasPrefix(nova, "Nova\n") {
		t.Fatalf("want a Nova table, then a Baselines table:\n%s", out.String())
	}
	for _, line := range strings.Split(nova, "\n") {
		if strings.HasPrefix(line, "copy-on-write") {
			t.Errorf("a baseline row in Nova's table: %q", line)
		}
	}
	if !strings.Contains(baselines, "\ncopy-on-write map lookup + interface call ") {
		t.Errorf("the baseline is not in the Baselines table:\n%s", baselines)
	}
}

// A row that cannot run says why, and which variable to set.
func TestBenchSkippedRowsSayWhy(t *testing.T) {
	t.Setenv("NOVA_AMQP_URL", "amqp://guest:guest@127.0.0.1:1/")
	var out, progress bytes.Buffer
	if err := runBench(context.Background(), []string{"-benchtime", "10ms", "-run", "rabbitmq"}, &out, &progress); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "skipped: RabbitMQ unreachable at amqp://guest:guest@127.0.0.1:1/ (set NOVA_AMQP_URL") {
		t.Errorf("the skipped row does not say why and what to set:\n%s", out.String())
	}
}

// The nova binary does not link the testing package, and the tests of the
// in-process packages link neither PostgreSQL's nor RabbitMQ's client:
// benchmark bodies live beside what they measure.
func TestBenchmarkBodiesLinkOnlyWhatTheyMeasure(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	list := func(args ...string) []string {
		t.Helper()
		cmd := exec.Command(goTool, append([]string{"list", "-deps"}, args...)...)
		cmd.Dir = "../.."
		cmd.Env = os.Environ()
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %v: %v", args, err)
		}
		return strings.Fields(string(b))
	}
	if slices.Contains(list("./cmd/nova"), "testing") {
		t.Error("the nova binary links the testing package")
	}
	for _, pkg := range []string{"./workerpool", "./emitter", "./bus", "./store/memory", "./listener"} {
		for _, dep := range list("-test", pkg) {
			if strings.Contains(dep, "jackc/pgx") || strings.Contains(dep, "amqp091") {
				t.Errorf("the tests of %s link %s", pkg, dep)
				break
			}
		}
	}
}
