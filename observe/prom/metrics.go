package prom

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

// Metrics implements shared.Metrics (and amqp.MessageMetrics) on Prometheus
// collectors. Hand the same *Metrics to every component as Config.Metrics
// (workerpool.WithMetrics for a pool); the component label, each
// component's Name, keeps their series apart. Watch adds the gauges read
// from the components' Stats at scrape time.
//
// It is safe for concurrent use. A report costs one atomic load, one map
// lookup and one or two atomic additions (plus a histogram observation for
// timings); it does not allocate once the series of its label values
// exist.
type Metrics struct {
	opts Options

	emitted, processed, duration, retried, deadLetters, dropped *family
	taskWait, taskRun, taskPanics                               *family
	published, confirm, size, consumed, consumeTime             *family

	watched      *collector
	types        limiter
	listeners    limiter
	eventTypeMap func(string) string

	emittedC  *cache[pair, okFail]
	handledC  *cache[pair, handledSeries]
	retriedC  *cache[pair, *counter]
	deadC     *cache[pair, *counter]
	droppedC  *cache[pair, *counter]
	taskC     *cache[pair, taskSeries]
	sentC     *cache[string, *histogram]
	settledC  *cache[string, settledSeries]
	consumedC *cache[pair, consumedSeries]
}

var (
	_ shared.Metrics       = (*Metrics)(nil)
	_ shared.AttemptBinder = (*Metrics)(nil)
	_ amqp.MessageMetrics  = (*Metrics)(nil)
)

type pair struct{ a, b string }

type okFail struct{ ok, fail *counter }

func (s okFail) add(i int, err error) {
	if err == nil {
		s.ok.add(i)
	} else {
		s.fail.add(i)
	}
}

type handledSeries struct {
	okFail
	dur *histogram
}

type taskSeries struct {
	wait, run *histogram
	panics    *counter
}

type settledSeries struct {
	okFail
	confirm *histogram
}

type consumedSeries struct {
	okFail
	dur, size *histogram
}

// Label values of result.
const (
	resultOK    = "ok"
	resultError = "error"
)

// New creates Nova's collectors and registers them with opts.Registerer.
// It fails with ErrNoRegisterer without one, and with the Registerer's
// error if Nova's metrics are registered there already (one Metrics per
// registry: share it between components).
func New(opts Options) (*Metrics, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Metrics{opts: opts, eventTypeMap: opts.EventType}
	m.types.max = opts.MaxEventTypes
	m.listeners.max = opts.MaxListeners
	cl := opts.ConstLabels
	counter := func(name, help string, labels ...string) *family {
		return newCounterFamily(name, help, cl, labels...)
	}
	seconds := func(name, help string, labels ...string) *family {
		return newHistogramFamily(name, help, opts.DurationBuckets, 1e-9, cl, labels...)
	}
	m.emitted = counter("nova_events_emitted_total", "Events offered to Emit, EmitAsync or Publish, by type and result (ok: accepted).", "component", "type", "result")
	m.processed = counter("nova_events_processed_total", "Listener attempts, by listener and result.", "component", "listener", "result")
	m.duration = seconds("nova_event_duration_seconds", "Time a listener attempt took.", "component", "listener")
	m.retried = counter("nova_events_retried_total", "Retries scheduled, by listener.", "component", "listener")
	m.deadLetters = counter("nova_dead_letters_total", "Events given up on after their retries, by listener.", "component", "listener")
	m.dropped = counter("nova_events_dropped_total", "Events not delivered, by reason.", "component", "reason")
	m.taskWait = seconds("nova_workerpool_task_wait_seconds", "Time a worker-pool task waited in its lane.", "component", "lane")
	m.taskRun = seconds("nova_workerpool_task_run_seconds", "Time a worker-pool task ran.", "component", "lane")
	m.taskPanics = counter("nova_workerpool_task_panics_total", "Worker-pool tasks that panicked.", "component", "lane")
	m.published = counter("nova_amqp_messages_published_total", "RabbitMQ publishes settled, by result (ok: confirmed by the broker).", "component", "result")
	m.confirm = seconds("nova_amqp_publish_confirm_seconds", "Time from a RabbitMQ publish to its broker confirm.", "component")
	m.size = newHistogramFamily("nova_amqp_message_size_bytes", "RabbitMQ message bodies on the wire, by direction (publish, consume).", opts.SizeBuckets, 1, cl, "component", "direction")
	m.consumed = counter("nova_amqp_messages_consumed_total", "RabbitMQ deliveries handled, by queue and result.", "component", "queue", "result")
	m.consumeTime = seconds("nova_amqp_consume_seconds", "Time a RabbitMQ consumer's handler took on a delivery.", "component", "queue")
	m.watched = newCollector(cl)

	fams := families{
		m.emitted, m.processed, m.duration, m.retried, m.deadLetters, m.dropped,
		m.taskWait, m.taskRun, m.taskPanics, m.published, m.confirm, m.size,
		m.consumed, m.consumeTime,
	}
	for _, c := range []prometheus.Collector{fams, m.watched} {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, err
		}
	}
	m.initCaches()
	return m, nil
}

func (m *Metrics) initCaches() {
	m.emittedC = newCache(func(k pair) okFail {
		typ := m.typeLabel(k.b)
		return okFail{m.emitted.counter(k.a, typ, resultOK), m.emitted.counter(k.a, typ, resultError)}
	})
	m.handledC = newCache(func(k pair) handledSeries {
		l := m.listeners.admit(k.b)
		return handledSeries{
			okFail{m.processed.counter(k.a, l, resultOK), m.processed.counter(k.a, l, resultError)},
			m.duration.histogram(k.a, l),
		}
	})
	m.retriedC = newCache(func(k pair) *counter {
		return m.retried.counter(k.a, m.listeners.admit(k.b))
	})
	m.deadC = newCache(func(k pair) *counter {
		return m.deadLetters.counter(k.a, m.listeners.admit(k.b))
	})
	m.droppedC = newCache(func(k pair) *counter {
		return m.dropped.counter(k.a, k.b)
	})
	m.taskC = newCache(func(k pair) taskSeries {
		return taskSeries{m.taskWait.histogram(k.a, k.b), m.taskRun.histogram(k.a, k.b), m.taskPanics.counter(k.a, k.b)}
	})
	m.sentC = newCache(func(c string) *histogram {
		return m.size.histogram(c, "publish")
	})
	m.settledC = newCache(func(c string) settledSeries {
		return settledSeries{
			okFail{m.published.counter(c, resultOK), m.published.counter(c, resultError)},
			m.confirm.histogram(c),
		}
	})
	m.consumedC = newCache(func(k pair) consumedSeries {
		q := m.listeners.admit(k.b)
		return consumedSeries{
			okFail{m.consumed.counter(k.a, q, resultOK), m.consumed.counter(k.a, q, resultError)},
			m.consumeTime.histogram(k.a, q),
			m.size.histogram(k.a, "consume"),
		}
	})
}

// typeLabel maps and caps an event type; it runs once per distinct type.
func (m *Metrics) typeLabel(typ string) (label string) {
	if typ == "" {
		return UnknownLabel
	}
	if m.eventTypeMap != nil {
		defer func() {
			if recover() != nil {
				label = OtherLabel
			}
		}()
		if typ = m.eventTypeMap(typ); typ == "" {
			return UnknownLabel
		}
	}
	return m.types.admit(typ)
}

// EventEmitted counts nova_events_emitted_total{component,type,result}.
func (m *Metrics) EventEmitted(component, eventType string, err error) {
	m.emittedC.get(pair{component, eventType}).add(stripe(), err)
}

// EventHandled counts nova_events_processed_total{component,listener,result}
// and observes nova_event_duration_seconds{component,listener}.
func (m *Metrics) EventHandled(component, listenerID, _ string, d time.Duration, err error) {
	s, i := m.handledC.get(pair{component, listenerID}), stripe()
	s.add(i, err)
	if d >= 0 { // negative: not timed, see TimeOneIn
		s.dur.observe(i, int64(d))
	}
}

// BindAttempts implements shared.AttemptBinder: the series of one
// (component, listener) resolved once, so that a route's attempts skip the
// lookup EventHandled makes.
func (m *Metrics) BindAttempts(component, listenerID string) shared.AttemptReporter {
	return &boundAttempts{m.handledC.get(pair{component, listenerID})}
}

type boundAttempts struct{ s handledSeries }

// Attempted is EventHandled for the bound listener.
func (b *boundAttempts) Attempted(d time.Duration, err error) {
	i := stripe()
	b.s.add(i, err)
	if d >= 0 {
		b.s.dur.observe(i, int64(d))
	}
}

// TimeOneIn implements shared.TimingSampler with Options.TimeOneIn.
func (m *Metrics) TimeOneIn() int { return m.opts.TimeOneIn }

// EventDropped counts nova_events_dropped_total{component,reason}.
func (m *Metrics) EventDropped(component, reason string) {
	m.droppedC.get(pair{component, reason}).add(stripe())
}

// EventRetried counts nova_events_retried_total{component,listener}.
func (m *Metrics) EventRetried(component, listenerID string) {
	m.retriedC.get(pair{component, listenerID}).add(stripe())
}

// EventDeadLettered counts nova_dead_letters_total{component,listener}.
func (m *Metrics) EventDeadLettered(component, listenerID string) {
	m.deadC.get(pair{component, listenerID}).add(stripe())
}

// QueueDepth does nothing: queue sizes are read from the components' Stats
// when Prometheus scrapes (see Watch), so no event pays for them.
func (m *Metrics) QueueDepth(string, string, int) {}

// TaskDone observes nova_workerpool_task_wait_seconds and
// nova_workerpool_task_run_seconds{component,lane}, and counts
// nova_workerpool_task_panics_total.
func (m *Metrics) TaskDone(component, lane string, wait, run time.Duration, panicked bool) {
	s, i := m.taskC.get(pair{component, lane}), stripe()
	s.wait.observe(i, int64(wait))
	s.run.observe(i, int64(run))
	if panicked {
		s.panics.add(i)
	}
}

// MessageSent observes nova_amqp_message_size_bytes{component,direction="publish"}.
func (m *Metrics) MessageSent(component string, size int) {
	m.sentC.get(component).observe(stripe(), int64(size))
}

// MessageSettled counts nova_amqp_messages_published_total{component,result}
// and, for a confirmed publish, observes nova_amqp_publish_confirm_seconds.
func (m *Metrics) MessageSettled(component string, d time.Duration, err error) {
	s, i := m.settledC.get(component), stripe()
	s.add(i, err)
	if err == nil {
		s.confirm.observe(i, int64(d))
	}
}

// MessageConsumed counts nova_amqp_messages_consumed_total{component,queue,result}
// and observes nova_amqp_consume_seconds{component,queue} and
// nova_amqp_message_size_bytes{component,direction="consume"}.
func (m *Metrics) MessageConsumed(component, queue string, size int, d time.Duration, err error) {
	s, i := m.consumedC.get(pair{component, queue}), stripe()
	s.add(i, err)
	s.dur.observe(i, int64(d))
	s.size.observe(i, int64(size))
}
