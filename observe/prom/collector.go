package prom

import (
	"fmt"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/transport/amqp"
	"github.com/novaevents/nova/workerpool"
)

// collector reports the gauges of the watched components, read from their
// Stats when Prometheus scrapes.
type collector struct {
	queueSize   *prometheus.Desc
	inFlight    *prometheus.Desc
	workers     *prometheus.Desc
	connections *prometheus.Desc
	reconnects  *prometheus.Desc

	mu      sync.RWMutex
	watched map[string]func(chan<- prometheus.Metric)
}

func newCollector(cl prometheus.Labels) *collector {
	return &collector{
		queueSize: prometheus.NewDesc("nova_queue_size",
			"Events or tasks waiting in a component's queue (emitter: async buffer; bus: a topic's partitions; pool: a lane; RabbitMQ publisher: accepted, not yet sent).",
			[]string{"component", "queue"}, cl),
		inFlight: prometheus.NewDesc("nova_in_flight",
			"Work under way: running pool tasks, running consumer handlers, publishes awaiting their confirm, active emitter drainers.",
			[]string{"component"}, cl),
		workers: prometheus.NewDesc("nova_workerpool_workers",
			"Worker-pool goroutines, by state (busy, idle).",
			[]string{"component", "state"}, cl),
		connections: prometheus.NewDesc("nova_amqp_connections",
			"RabbitMQ connections open now.",
			[]string{"component"}, cl),
		reconnects: prometheus.NewDesc("nova_amqp_reconnects_total",
			"RabbitMQ connections lost and re-established.",
			[]string{"component"}, cl),
		watched: map[string]func(chan<- prometheus.Metric){},
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queueSize
	ch <- c.inFlight
	ch <- c.workers
	ch <- c.connections
	ch <- c.reconnects
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, fn := range c.watched {
		fn(ch)
	}
}

// Watch adds component's gauges to the metrics, read from its Stats each
// time Prometheus scrapes: nothing is paid per event for them. component is
// the label value; use the Name the component reports its events under, so
// that its series line up. c is one of:
//
//   - *emitter.Emitter: nova_queue_size{queue="async"}, nova_in_flight (drainers)
//   - *bus.Bus: nova_queue_size{queue=<topic>} (its partitions summed)
//   - *workerpool.Pool: nova_queue_size{queue=<lane>}, nova_in_flight,
//     nova_workerpool_workers{state}
//   - *amqp.Publisher: nova_queue_size{queue="publish"}, nova_in_flight
//   - *amqp.Consumer: nova_in_flight
//   - *amqp.Client: nova_amqp_connections, nova_amqp_reconnects_total
//
// A bus adds one series per topic: the topics are its callers' to bound.
// Watch fails with ErrNoName, ErrDuplicate for a component already
// watched, or ErrUnsupported. Unwatch before the component is discarded.
func (m *Metrics) Watch(component string, c any) error {
	if component == "" {
		return ErrNoName
	}
	fn, err := m.watched.reader(component, c)
	if err != nil {
		return err
	}
	w := m.watched
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.watched[component]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicate, component)
	}
	w.watched[component] = fn
	return nil
}

// Unwatch stops reading component's Stats. It reports whether it was
// watched.
func (m *Metrics) Unwatch(component string) bool {
	w := m.watched
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.watched[component]
	delete(w.watched, component)
	return ok
}

func (c *collector) reader(name string, x any) (func(chan<- prometheus.Metric), error) {
	gauge := func(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{name}, labels...)...)
	}
	switch x := x.(type) {
	case *emitter.Emitter:
		if x == nil {
			break
		}
		return func(ch chan<- prometheus.Metric) {
			s := x.Stats()
			gauge(ch, c.queueSize, float64(s.QueuedEvents), "async")
			gauge(ch, c.inFlight, float64(s.ActiveDrainers))
		}, nil
	case *bus.Bus:
		if x == nil {
			break
		}
		return func(ch chan<- prometheus.Metric) {
			s := x.Stats()
			topics := make([]string, 0, len(s.TopicStats))
			for t := range s.TopicStats {
				topics = append(topics, t)
			}
			sort.Strings(topics)
			for _, t := range topics {
				n := 0
				for _, d := range s.TopicStats[t].QueueDepth {
					n += d
				}
				gauge(ch, c.queueSize, float64(n), t)
			}
		}, nil
	case *workerpool.Pool:
		if x == nil {
			break
		}
		return func(ch chan<- prometheus.Metric) {
			s := x.Stats()
			for _, l := range s.Lanes {
				gauge(ch, c.queueSize, float64(l.Queued), l.Priority.String())
			}
			gauge(ch, c.inFlight, float64(s.Running))
			gauge(ch, c.workers, float64(s.Workers-s.IdleWorkers), "busy")
			gauge(ch, c.workers, float64(s.IdleWorkers), "idle")
		}, nil
	case *amqp.Publisher:
		if x == nil {
			break
		}
		return func(ch chan<- prometheus.Metric) {
			s := x.Stats()
			gauge(ch, c.queueSize, float64(s.Queued), "publish")
			gauge(ch, c.inFlight, float64(s.InFlight))
		}, nil
	case *amqp.Consumer:
		if x == nil {
			break
		}
		return func(ch chan<- prometheus.Metric) {
			gauge(ch, c.inFlight, float64(x.Stats().InFlight))
		}, nil
	case *amqp.Client:
		if x == nil {
			break
		}
		return func(ch chan<- prometheus.Metric) {
			s := x.Stats()
			gauge(ch, c.connections, float64(s.Connections))
			ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(s.Reconnects), name)
		}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnsupported, x)
}
