// Package prom reports Nova's components to Prometheus, with
// github.com/prometheus/client_golang.
//
// [New] registers Nova's collectors with the Registerer you give it (no
// global registry is touched unless you pass prometheus.DefaultRegisterer)
// and returns a [*Metrics], which implements shared.Metrics and
// amqp.MessageMetrics. Hand the same *Metrics to every component: the
// emitter, the bus, the listener manager, the worker pool
// (workerpool.WithMetrics) and the RabbitMQ publisher and consumer. Each
// reports under its Name, the component label.
//
// # Metrics
//
// Reported as events happen:
//
//	nova_events_emitted_total{component,type,result}     Emit, EmitAsync, Publish, RabbitMQ publish; result ok|error
//	nova_events_processed_total{component,listener,result} listener attempts (RabbitMQ: listener = queue)
//	nova_event_duration_seconds{component,listener}      histogram of attempt durations
//	nova_events_retried_total{component,listener}        retries scheduled
//	nova_dead_letters_total{component,listener}          events given up on
//	nova_events_dropped_total{component,reason}          events not delivered; reason as the component names it
//	nova_workerpool_task_wait_seconds{component,lane}    histogram: time queued
//	nova_workerpool_task_run_seconds{component,lane}     histogram: time running
//	nova_workerpool_task_panics_total{component,lane}
//	nova_amqp_messages_published_total{component,result} publishes settled (ok: confirmed); rate() is the throughput
//	nova_amqp_publish_confirm_seconds{component}         histogram: publish to broker confirm
//	nova_amqp_message_size_bytes{component,direction}    histogram; direction publish|consume
//	nova_amqp_messages_consumed_total{component,queue,result}
//	nova_amqp_consume_seconds{component,queue}           histogram: handler time per delivery
//
// Read from the components' Stats when Prometheus scrapes, for the
// components given to [Metrics.Watch] (nothing is paid per event):
//
//	nova_queue_size{component,queue}   emitter async buffer, bus topics, pool lanes, publisher queue
//	nova_in_flight{component}          running tasks, handlers, unconfirmed publishes, drainers
//	nova_workerpool_workers{component,state}   state busy|idle
//	nova_amqp_connections{component}
//	nova_amqp_reconnects_total{component}
//
// # Cardinality
//
// Every label is bounded. component, lane, reason, direction and result
// take a handful of values fixed by the code. Event types can be many:
// Options.EventType maps a type to its label (folding versions or IDs out
// of it), and past Options.MaxEventTypes distinct labels (default 100) new
// types are counted as "other". Listener IDs and queue names are capped the
// same way by Options.MaxListeners (default 500). Events refused for having
// no type count under "unknown". A bus watched with Watch adds one
// nova_queue_size series per topic.
//
// # Cost
//
// A report is a lock-free lookup of the series already resolved for its
// label values and one or two atomic additions on one of a few striped
// cache lines (so that cores do not fight over a line; the stripe follows
// the reporting goroutine's stack, no random draw), plus a bucket search
// for a duration: a few tens of nanoseconds and no allocation (see
// BENCHMARKS.md). Listener attempts skip the lookup: Metrics implements
// shared.AttemptBinder, so the emitter's and the bus's routes resolve their
// listener's series once, when they subscribe. Past 4,096 distinct raw label values in one family (event
// types before they are mapped and capped, say) new values are no longer
// cached: their reports take a lock and allocate. Components also read the
// clock to time attempts and tasks once any Metrics is set; that is theirs
// to pay, and on some virtual machines it costs more than the report.
// QueueDepth, called by the worker pool on every task, does nothing; queue
// sizes come from Watch. Values are read and summed only when Prometheus
// scrapes. Metrics starts no goroutine.
//
// # Example
//
//	reg := prometheus.NewRegistry()
//	m, err := prom.New(prom.Options{Registerer: reg})
//	if err != nil { ... }
//	pool := workerpool.New(8, 1024, workerpool.WithMetrics(m))
//	em := emitter.New(emitter.Config{WorkerPool: pool, Metrics: m})
//	b := bus.New(bus.Config{WorkerPool: pool, Metrics: m})
//	_ = m.Watch("emitter", em)
//	_ = m.Watch("bus", b)
//	_ = m.Watch("workerpool", pool)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
package prom
