package prom

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults used for zero Options fields.
const (
	// DefaultMaxEventTypes is how many distinct event types get a series of
	// their own in nova_events_emitted_total before the rest share
	// OtherLabel.
	DefaultMaxEventTypes = 100
	// DefaultMaxListeners is how many distinct listener IDs (and RabbitMQ
	// queues) get series of their own before the rest share OtherLabel.
	DefaultMaxListeners = 500
	// OtherLabel is the label value shared by the event types and
	// listeners past their cap.
	OtherLabel = "other"
	// UnknownLabel is the type label of events refused because they were
	// nil or had no type.
	UnknownLabel = "unknown"
	// maxCached bounds each lookup cache; label values past it are still
	// counted, through client_golang's slower lookup.
	maxCached = 4096
)

// DefaultDurationBuckets are the bounds, in seconds, of the handler and
// worker-pool histograms: 10µs to 10s, in-process handlers being fast.
var DefaultDurationBuckets = []float64{
	.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005,
	.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
}

// DefaultSizeBuckets are the bounds, in bytes, of the RabbitMQ message size
// histogram: 64 B to 4 MiB, by fours.
var DefaultSizeBuckets = prometheus.ExponentialBuckets(64, 4, 9)

// Options configures Metrics. Registerer is required; every other field has
// a default.
type Options struct {
	// Registerer receives Nova's collectors. Required: pass
	// prometheus.DefaultRegisterer to use the global registry.
	Registerer prometheus.Registerer
	// ConstLabels are added to every series (an instance or service name,
	// for example). Default none.
	ConstLabels prometheus.Labels
	// EventType maps an event type to its label value, to fold families of
	// types into one series ("order.created.v2" into "order.created", a
	// type carrying a tenant ID into its kind). It is called once per
	// distinct type, not per event, and must be safe for concurrent use.
	// Default: the type as it is.
	EventType func(eventType string) string
	// MaxEventTypes caps the distinct type labels: once it is reached, new
	// types are counted under OtherLabel. Default DefaultMaxEventTypes.
	MaxEventTypes int
	// MaxListeners caps the distinct listener labels (listener IDs and
	// RabbitMQ queue names), past which OtherLabel is used. Default
	// DefaultMaxListeners.
	MaxListeners int
	// DurationBuckets are the bounds of the duration histograms, in
	// seconds, increasing. Default DefaultDurationBuckets.
	DurationBuckets []float64
	// SizeBuckets are the bounds of nova_amqp_message_size_bytes, in bytes,
	// increasing. Default DefaultSizeBuckets.
	SizeBuckets []float64
	// TimeOneIn makes the listener manager time one listener attempt in
	// TimeOneIn, at random, for nova_event_duration_seconds (see
	// shared.TimingSampler): every attempt is still counted in
	// nova_events_processed_total, but the histogram holds a sample, so
	// use it for latency and nova_events_processed_total for rates. It
	// spares the two clock reads of the other attempts. Default
	// DefaultTimeOneIn; 1 times every attempt.
	TimeOneIn int
}

// DefaultTimeOneIn is the default Options.TimeOneIn.
const DefaultTimeOneIn = 8

func (o Options) withDefaults() (Options, error) {
	if o.Registerer == nil {
		return o, ErrNoRegisterer
	}
	if o.MaxEventTypes < 0 || o.MaxListeners < 0 || o.TimeOneIn < 0 {
		return o, ErrInvalidOptions
	}
	if o.MaxEventTypes == 0 {
		o.MaxEventTypes = DefaultMaxEventTypes
	}
	if o.TimeOneIn == 0 {
		o.TimeOneIn = DefaultTimeOneIn
	}
	if o.MaxListeners == 0 {
		o.MaxListeners = DefaultMaxListeners
	}
	if len(o.DurationBuckets) == 0 {
		o.DurationBuckets = DefaultDurationBuckets
	}
	if len(o.SizeBuckets) == 0 {
		o.SizeBuckets = DefaultSizeBuckets
	}
	for _, b := range [][]float64{o.DurationBuckets, o.SizeBuckets} {
		for i := 1; i < len(b); i++ {
			if !(b[i] > b[i-1]) {
				return o, fmt.Errorf("%w: buckets must increase (%v)", ErrInvalidOptions, b)
			}
		}
	}
	return o, nil
}
