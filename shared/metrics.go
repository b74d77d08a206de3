package shared

import "time"

// Metrics is the hook Nova's components report to. Every component takes an
// optional Metrics in its config; when none is set nothing is reported and
// nothing is paid. observe/prom implements it for Prometheus.
//
// Methods are called on hot paths and from many goroutines at once: an
// implementation must be safe for concurrent use and must not block. To stay
// compatible when methods are added, embed NopMetrics in your type.
//
// component names the reporter ("emitter", "bus", "workerpool", or the
// Name from its config); reason is a short constant such as "buffer_full".
type Metrics interface {
	// EventEmitted counts an event accepted (err == nil) or refused by Emit,
	// EmitAsync or Publish.
	EventEmitted(component, eventType string, err error)
	// EventHandled reports one listener attempt and how long it took.
	EventHandled(component, listenerID, eventType string, d time.Duration, err error)
	// EventDropped counts an event that was not delivered, by reason.
	EventDropped(component, reason string)
	// EventRetried counts a scheduled retry.
	EventRetried(component, listenerID string)
	// EventDeadLettered counts an event given up on.
	EventDeadLettered(component, listenerID string)
	// QueueDepth reports the current depth of a named queue.
	QueueDepth(component, queue string, depth int)
	// TaskDone reports one worker-pool task: time spent queued and running.
	TaskDone(component, lane string, wait, run time.Duration, panicked bool)
}

// NopMetrics implements Metrics by doing nothing.
type NopMetrics struct{}

func (NopMetrics) EventEmitted(string, string, error)                          {}
func (NopMetrics) EventHandled(string, string, string, time.Duration, error)   {}
func (NopMetrics) EventDropped(string, string)                                 {}
func (NopMetrics) EventRetried(string, string)                                 {}
func (NopMetrics) EventDeadLettered(string, string)                            {}
func (NopMetrics) QueueDepth(string, string, int)                              {}
func (NopMetrics) TaskDone(string, string, time.Duration, time.Duration, bool) {}

var _ Metrics = NopMetrics{}
