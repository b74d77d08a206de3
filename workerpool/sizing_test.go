package workerpool_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/novaevents/nova/workerpool"
)

// withProcs runs f with GOMAXPROCS set to n. runtime.NumCPU() stays at the
// machine's count, so a helper reading NumCPU gives other numbers than the
// ones wanted here (seed 002 used NumCPU, which ignores CPU quotas).
func withProcs(t *testing.T, n int, f func()) {
	t.Helper()
	old := runtime.GOMAXPROCS(n)
	defer runtime.GOMAXPROCS(old)
	f()
}

func TestSizingFollowsGOMAXPROCSNotNumCPU(t *testing.T) {
	tests := []struct {
		procs          int
		defaultWorkers int
		cpu, mixed, io int
	}{
		{procs: 1, defaultWorkers: 4, cpu: 1, mixed: 2, io: 4},      // floor of 4
		{procs: 3, defaultWorkers: 7, cpu: 3, mixed: 6, io: 12},     // 2.5 × 3 = 7.5
		{procs: 7, defaultWorkers: 17, cpu: 7, mixed: 14, io: 28},   // 17.5
		{procs: 20, defaultWorkers: 32, cpu: 20, mixed: 40, io: 80}, // cap of 32
	}
	for _, tt := range tests {
		withProcs(t, tt.procs, func() {
			if got := workerpool.DefaultWorkers(); got != tt.defaultWorkers {
				t.Errorf("GOMAXPROCS %d: DefaultWorkers() = %d, want %d", tt.procs, got, tt.defaultWorkers)
			}
			if got := workerpool.DefaultQueueSize(0); got != tt.defaultWorkers*10 {
				t.Errorf("GOMAXPROCS %d: DefaultQueueSize(0) = %d, want %d", tt.procs, got, tt.defaultWorkers*10)
			}
			for kind, want := range map[workerpool.Workload]int{
				workerpool.WorkloadCPU: tt.cpu, workerpool.WorkloadMixed: tt.mixed, workerpool.WorkloadIO: tt.io,
			} {
				if got := workerpool.WorkersFor(kind); got != want {
					t.Errorf("GOMAXPROCS %d: WorkersFor(%v) = %d, want %d", tt.procs, kind, got, want)
				}
			}
			p := workerpool.New(0, 0)
			if p.Workers() != tt.defaultWorkers {
				t.Errorf("GOMAXPROCS %d: New(0, 0) has %d workers, want %d", tt.procs, p.Workers(), tt.defaultWorkers)
			}
			_ = p.Close(t.Context())
		})
	}
}

func TestQueueSizeFor(t *testing.T) {
	tests := []struct {
		name  string
		rate  int
		burst time.Duration
		want  int
	}{
		{"the seed's 50 000 events/s for 100ms", 50_000, 100 * time.Millisecond, 5000},
		{"a fraction rounds up", 3, 500 * time.Millisecond, 2},
		{"no rate means the default", 0, time.Second, 0},
		{"no burst means the default", 1000, 0, 0},
		{"negative values mean the default", -5, -time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := workerpool.QueueSizeFor(tt.rate, tt.burst); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRecommend(t *testing.T) {
	withProcs(t, 2, func() {
		tests := []struct {
			name                   string
			kind                   workerpool.Workload
			rate                   int
			burst, processing      time.Duration
			workers, queue, buffer int
			saturated              bool
		}{
			{"nothing known gives the workload's default", workerpool.WorkloadMixed, 0, 0, 0, 4, 40, 40, false},
			{"I/O work is sized by Little's law", workerpool.WorkloadIO, 1000, 100 * time.Millisecond, 10 * time.Millisecond, 13, 100, 100, false},
			{"a long processing time grows the buffer", workerpool.WorkloadIO, 1000, 10 * time.Millisecond, 50 * time.Millisecond, 63, 10, 150, false},
			{"CPU work never gets more workers than CPUs", workerpool.WorkloadCPU, 1000, time.Second, 10 * time.Millisecond, 2, 1000, 1000, true},
			{"CPU work within capacity", workerpool.WorkloadCPU, 100, 0, time.Millisecond, 2, 20, 20, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := workerpool.Recommend(tt.kind, tt.rate, tt.burst, tt.processing)
				if r.Workers != tt.workers || r.QueueSize != tt.queue || r.BufferSize != tt.buffer || r.Saturated != tt.saturated {
					t.Errorf("got workers %d, queue %d, buffer %d, saturated %v; want %d, %d, %d, %v",
						r.Workers, r.QueueSize, r.BufferSize, r.Saturated, tt.workers, tt.queue, tt.buffer, tt.saturated)
				}
				if tt.processing > 0 && r.Capacity != float64(r.Workers)/tt.processing.Seconds() {
					t.Errorf("Capacity %v", r.Capacity)
				}
			})
		}
	})
}

func TestParseWorkload(t *testing.T) {
	tests := []struct {
		in      string
		want    workerpool.Workload
		wantErr bool
	}{
		{"cpu", workerpool.WorkloadCPU, false},
		{"CPU-bound", workerpool.WorkloadCPU, false},
		{"mixed", workerpool.WorkloadMixed, false},
		{"", workerpool.WorkloadMixed, false},
		{"io", workerpool.WorkloadIO, false},
		{" I/O ", workerpool.WorkloadIO, false},
		{"gpu", workerpool.WorkloadMixed, true},
	}
	for _, tt := range tests {
		got, err := workerpool.ParseWorkload(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseWorkload(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	for w, want := range map[workerpool.Workload]string{
		workerpool.WorkloadCPU: "cpu", workerpool.WorkloadMixed: "mixed", workerpool.WorkloadIO: "io", 9: "Workload(9)",
	} {
		if w.String() != want {
			t.Errorf("String() = %q, want %q", w.String(), want)
		}
	}
}

// Seed 002 estimated free memory from runtime.MemStats.Sys, which is the
// memory the Go runtime got from the OS, not what the system has free, and
// counted CPUs with runtime.NumCPU. The package must do neither: this
// reads its own source and fails on any use of them.
func TestNoMemStatsOrNumCPUInThePackage(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]string{
		"NumCPU":       "use runtime.GOMAXPROCS(0), which follows CPU quotas",
		"ReadMemStats": "MemStats.Sys is not system memory",
		"MemStats":     "MemStats.Sys is not system memory",
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if why, bad := banned[sel.Sel.Name]; bad {
					t.Errorf("%s: uses %s: %s", fset.Position(sel.Pos()), sel.Sel.Name, why)
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}
