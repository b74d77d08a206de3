package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/novaevents/nova/observe/prom"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// metricsServer serves the demo's Prometheus metrics and net/http/pprof.
type metricsServer struct {
	m    *prom.Metrics
	addr string
	srv  *http.Server
	done chan error
}

func startMetrics(addr string, out io.Writer) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := prom.New(prom.Options{Registerer: reg})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics: %w", err)
	}
	s := &metricsServer{m: m, addr: ln.Addr().String(), done: make(chan error, 1),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { s.done <- s.srv.Serve(ln) }()
	fmt.Fprintf(out, "Serving metrics on http://%s/metrics and pprof on http://%s/debug/pprof/\n\n", s.addr, s.addr)
	return s, nil
}

// hold keeps serving after the traffic, for d or, if d is 0, until ctx ends
// (Ctrl-C), and says how to look.
func (s *metricsServer) hold(ctx context.Context, d time.Duration, out io.Writer) {
	fmt.Fprintf(out, "\nMetrics of the run above: curl -s http://%s/metrics | grep ^nova_\n", s.addr)
	fmt.Fprintf(out, "Profiles: go tool pprof http://%s/debug/pprof/heap (or /profile?seconds=10, /goroutine)\n", s.addr)
	if d > 0 {
		fmt.Fprintf(out, "Serving for %v.\n", d)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return
	}
	fmt.Fprintln(out, "Serving until interrupted (Ctrl-C).")
	<-ctx.Done()
}

func (s *metricsServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// hook is the Metrics to hand components: nil without -metrics.
func (c demoConfig) hook() shared.Metrics {
	if c.metrics == nil {
		return nil
	}
	return c.metrics
}

// poolOpts names a demo worker pool and has it report to the metrics.
func (c demoConfig) poolOpts(name string) []workerpool.Option {
	return []workerpool.Option{workerpool.WithName(name), workerpool.WithMetrics(c.hook())}
}

// watch adds a component's gauges to the metrics.
func (c demoConfig) watch(name string, component any) {
	if c.metrics != nil {
		_ = c.metrics.Watch(name, component)
	}
}
