package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestDashboardFiftyViewers measures what 50 open dashboards cost the
// service: the process's CPU time with the demo's traffic and 50 streams,
// minus the same traffic with none, over NOVA_DASHBOARD_SOAK (e.g. 60s);
// and its heap at the start and end of the watched period. The viewers
// read their streams in this process too, so the figure is an upper bound.
// It runs only when NOVA_DASHBOARD_SOAK is set.
func TestDashboardFiftyViewers(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("NOVA_DASHBOARD_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("set NOVA_DASHBOARD_SOAK=60s to measure 50 dashboard viewers")
	}
	demo, err := newLiveDemo(defaultLiveTiming, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer demo.close()
	mux := http.NewServeMux()
	mux.Handle("/nova/", demo.dash)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer demo.dash.Close()
	ctx, stop := context.WithCancel(context.Background())
	traffic := make(chan struct{})
	go func() { defer close(traffic); demo.run(ctx) }()
	defer func() { stop(); <-traffic }()

	// The same traffic, nobody watching.
	c0 := cpuTime(t)
	idle := time.NewTimer(d)
	<-idle.C
	base := cpuTime(t) - c0

	const viewers = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	received := 0
	vctx, closeViewers := context.WithCancel(context.Background())
	for range viewers {
		req, _ := http.NewRequestWithContext(vctx, http.MethodGet, srv.URL+"/nova/stream", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if len(sc.Bytes()) > 0 && sc.Bytes()[0] == 'd' {
					mu.Lock()
					received++
					mu.Unlock()
				}
			}
		}()
	}
	heap0 := heapInuse()
	c1 := cpuTime(t)
	watched := time.NewTimer(d)
	<-watched.C
	with := cpuTime(t) - c1
	heap1 := heapInuse()
	closeViewers()
	wg.Wait()

	cost := float64(with-base) / float64(d)
	t.Logf("%d viewers for %v: CPU %v with them, %v without (%.2f%% of one core for the viewers); heap %.1f MiB → %.1f MiB; %d samples received, %d missed",
		viewers, d, with, base, 100*cost, float64(heap0)/(1<<20), float64(heap1)/(1<<20), received, demo.dash.Dropped())
	if cost > 0.05 {
		t.Errorf("50 viewers cost %.1f%% of one core, want under 5%%", 100*cost)
	}
	if heap1 > heap0+16<<20 {
		t.Errorf("heap grew from %d to %d bytes while watched", heap0, heap1)
	}
}
