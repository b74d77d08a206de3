package memory

import (
	"time"

	"github.com/novaevents/nova/shared"
)

// Defaults of Config: a zero Config keeps every event forever, in as many
// streams as are created.
const (
	DefaultMaxEventsPerStream int64         = 0 // no cap
	DefaultMaxStreams         int           = 0 // no cap
	DefaultRetentionDuration  time.Duration = 0 // keep forever
	DefaultRetentionCount     int64         = 0 // keep every event
)

// Internal sizes. A log chunk holds logChunkSize events (about 10 KiB); a
// stream's index grows by doubling up to indexChunkSize positions (8 KiB)
// and then adds chunks of that size.
const (
	logChunkSize      = 256
	indexChunkShift   = 10
	indexChunkSize    = 1 << indexChunkShift
	indexFirstCap     = 4
	subscriptionBatch = 128
	replayBatch       = 256
	// retentionSlackDiv: expired events are trimmed at most
	// RetentionDuration/retentionSlackDiv after they expire, so that a dense
	// log does not wake the sweeper for every event.
	retentionSlackDiv = 64
	minRetentionTick  = time.Millisecond
)

// Config configures a Store. Its zero value works. A negative value has no
// meaning for any field: Validate refuses it with a *ConfigError, and a
// Store made from such a Config returns that error from every method.
type Config struct {
	// MaxEventsPerStream caps the events a stream keeps. An append that would
	// pass it is refused with a *store.LimitError matching store.ErrStreamFull
	// and writes nothing; events trimmed by retention no longer count.
	// Default 0: no cap.
	MaxEventsPerStream int64

	// MaxStreams caps the number of streams. An append that would create one
	// more is refused with a *store.LimitError matching
	// store.ErrTooManyStreams and writes nothing, anywhere. A stream whose
	// events were all trimmed still counts, because it keeps its version.
	// Default 0: no cap.
	MaxStreams int

	// RetentionDuration removes events whose StoredAt is older than this. A
	// goroutine owned by the store trims them when the oldest expires, at most
	// RetentionDuration/64 (and at least 1ms) late. Versions and positions of
	// the other events never change. Default 0: keep forever.
	RetentionDuration time.Duration

	// RetentionCount keeps at most this many of the newest events of each
	// stream: an append trims the stream's oldest events past it. Default 0:
	// no count retention.
	RetentionCount int64
}

// Validate reports the first negative field of c as a *ConfigError
// (matching ErrInvalidConfig).
func (c Config) Validate() error {
	bad := func(field string) error { return shared.NewConfigError("memory", "Config."+field, "negative") }
	switch {
	case c.MaxEventsPerStream < 0:
		return bad("MaxEventsPerStream")
	case c.MaxStreams < 0:
		return bad("MaxStreams")
	case c.RetentionDuration < 0:
		return bad("RetentionDuration")
	case c.RetentionCount < 0:
		return bad("RetentionCount")
	}
	return nil
}

// withDefaults returns c with the defaults filled in.
func (c Config) withDefaults() Config {
	if c.MaxEventsPerStream < 0 {
		c.MaxEventsPerStream = DefaultMaxEventsPerStream
	}
	if c.MaxStreams < 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.RetentionDuration < 0 {
		c.RetentionDuration = DefaultRetentionDuration
	}
	if c.RetentionCount < 0 {
		c.RetentionCount = DefaultRetentionCount
	}
	return c
}

// DefaultConfig returns the zero Config, whose every field means its
// default: no caps, no retention. It is a bridge for code written against
// kolosys/nova (see MIGRATING.md), whose DefaultConfig capped streams;
// set MaxEventsPerStream and MaxStreams for caps.
func DefaultConfig() Config { return Config{} }
