package shared

import (
	"math/rand/v2"
	"time"
)

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
	// EventHandled reports one listener attempt and how long it took; d
	// is negative when the attempt was not timed (see TimingSampler).
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

// TimingSampler is implemented by a Metrics that needs only a sample of the
// listener attempts timed, to spare the clock reads (two per attempt, tens
// of nanoseconds on some virtual machines): the listener manager then times
// one attempt in TimeOneIn(), at random, and reports the others to
// EventHandled with a negative duration. Every attempt is still reported;
// only the durations are a sample.
type TimingSampler interface {
	TimeOneIn() int
}

// AttemptBinder is implemented by a Metrics that can resolve once where one
// listener's attempts are reported. A dispatcher's route binds its
// listener when it is created and reports each attempt to the returned
// AttemptReporter instead of calling EventHandled, sparing a lookup of the
// (component, listener) series per attempt. A Metrics without it gets
// EventHandled calls, as before.
type AttemptBinder interface {
	BindAttempts(component, listenerID string) AttemptReporter
}

// AttemptReporter is what EventHandled does for one bound (component,
// listener): it reports one attempt, d negative when not timed.
type AttemptReporter interface {
	Attempted(d time.Duration, err error)
}

// TimeOneIn returns the n of m's TimingSampler (at least 1), or 1 when m
// times every attempt.
func TimeOneIn(m Metrics) uint32 {
	if s, ok := m.(TimingSampler); ok {
		return uint32(min(max(s.TimeOneIn(), 1), 1<<20))
	}
	return 1
}

// TimeThis reports whether to time one call under a TimeOneIn of n: always
// for n <= 1, else with probability 1/n. It costs a few nanoseconds and is
// safe for concurrent use.
func TimeThis(n uint32) bool { return n <= 1 || rand.Uint32N(n) == 0 }
