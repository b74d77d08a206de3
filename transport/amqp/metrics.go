package amqp

import "time"

// MessageMetrics is an optional extension of shared.Metrics for what only a
// broker client can measure. When the Metrics of a PublisherConfig or
// ConsumerConfig also implements it (observe/prom's does), the Publisher
// and Consumer report to it; otherwise nothing is paid. Like Metrics, its
// methods are called from many goroutines and must not block.
//
// component is the publisher's or consumer's Name; size is the body's
// length on the wire (after compression).
type MessageMetrics interface {
	// MessageSent reports a message accepted by Publish or PublishAsync.
	MessageSent(component string, size int)
	// MessageSettled reports a publish settled: confirmed by the broker
	// (err == nil) d after it was accepted, or failed with err.
	MessageSettled(component string, d time.Duration, err error)
	// MessageConsumed reports a delivery handled (or failed) by the
	// consumer's handler, which took d.
	MessageConsumed(component, queue string, size int, d time.Duration, err error)
}
