package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineWriter collects output and signals when a line containing want has
// been written.
type lineWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if w.seen != nil && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return n, err
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

func TestDemoServesMetricsAndPprofAfterItsTraffic(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lineWriter{want: "Serving until interrupted", seen: make(chan struct{})}
	seen := out.seen
	var errOut bytes.Buffer
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, []string{"demo", "-metrics", "127.0.0.1:0"}, out, &errOut) }()
	select {
	case <-seen:
	case code := <-exit:
		t.Fatalf("demo exited %d before serving: %s\n%s", code, errOut.String(), out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("demo did not get to serving:\n%s", out.String())
	}
	addr := regexp.MustCompile(`http://([0-9.:]+)/metrics`).FindStringSubmatch(out.String())
	if addr == nil {
		t.Fatalf("no address printed:\n%s", out.String())
	}
	metrics := get(t, "http://"+addr[1]+"/metrics")
	for _, want := range []string{
		`nova_events_emitted_total{component="emitter",result="ok",type="order.created"} 24`,
		`nova_events_emitted_total{component="emitter",result="ok",type="order.paid"} 21`,
		`nova_events_processed_total{component="emitter",listener="payment",result="error"} 3`,
		`nova_events_processed_total{component="bus",listener="billing",result="ok"}`,
		`nova_dead_letters_total{component="bus",listener="billing"}`,
		`nova_queue_size{component="emitter",queue="async"} 0`,
		`nova_queue_size{component="bus",queue="orders"} 0`,
		`nova_workerpool_task_run_seconds_count{component="bus.workerpool",lane="normal"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(get(t, "http://"+addr[1]+"/debug/pprof/"), "goroutine") {
		t.Error("/debug/pprof/ does not list the profiles")
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}
