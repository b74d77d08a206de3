package prom_test

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sample is one series of a gathered family: a counter's or gauge's value,
// or a histogram's count.
type sample struct {
	labels map[string]string
	value  float64
	count  uint64
}

type families map[string][]sample

func gather(t *testing.T, g prometheus.Gatherer) families {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := families{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				s.count = m.GetHistogram().GetSampleCount()
				s.value = m.GetHistogram().GetSampleSum()
			}
			out[mf.GetName()] = append(out[mf.GetName()], s)
		}
	}
	return out
}

// get returns the series of name whose labels are exactly kv ("k=v" each).
func (f families) get(t *testing.T, name string, kv ...string) sample {
	t.Helper()
	want := map[string]string{}
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		want[k] = v
	}
	for _, s := range f[name] {
		if maps.Equal(s.labels, want) {
			return s
		}
	}
	t.Fatalf("no series %s%v; have %v", name, want, f.describe(name))
	return sample{}
}

func (f families) value(t *testing.T, want float64, name string, kv ...string) {
	t.Helper()
	if got := f.get(t, name, kv...).value; got != want {
		t.Errorf("%s%v = %v, want %v", name, kv, got, want)
	}
}

func (f families) count(t *testing.T, want uint64, name string, kv ...string) {
	t.Helper()
	if got := f.get(t, name, kv...).count; got != want {
		t.Errorf("%s%v count = %v, want %v", name, kv, got, want)
	}
}

func (f families) describe(name string) []map[string]string {
	var out []map[string]string
	for _, s := range f[name] {
		out = append(out, s.labels)
	}
	return out
}

// labelNames checks that every series of each family has exactly the
// label names given.
func (f families) labelNames(t *testing.T, want map[string][]string) {
	t.Helper()
	for name, names := range want {
		if len(f[name]) == 0 {
			t.Errorf("family %s has no series", name)
		}
		for _, s := range f[name] {
			got := slices.Collect(maps.Keys(s.labels))
			sort.Strings(got)
			w := slices.Clone(names)
			sort.Strings(w)
			if !slices.Equal(got, w) {
				t.Errorf("%s has labels %v, want %v", name, got, w)
			}
		}
	}
}

func lint(t *testing.T, g prometheus.Gatherer) {
	t.Helper()
	problems, err := testutil.GatherAndLint(g)
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
