package postgres

import (
	"log/slog"
	"time"

	"github.com/novaevents/nova/codec"
)

// Defaults of Config.
const (
	DefaultSchema       = "nova"
	DefaultReadBatch    = 500
	DefaultPollInterval = 2 * time.Second
)

// reconnect backoff of the LISTEN connection.
const (
	minReconnectDelay = 100 * time.Millisecond
	maxReconnectDelay = 5 * time.Second
)

// Config configures a Store. Its zero value works.
type Config struct {
	// Schema is the PostgreSQL schema that holds the store's three tables
	// (nova_events, nova_streams, nova_position); New creates it if needed.
	// Stores in different schemas are independent. Default "nova".
	Schema string

	// Codec encodes event payloads. Default codec.JSON.
	Codec codec.Codec

	// Registry names payload types, so that Data comes back as the Go type
	// it was appended as. Default nil: payloads come back in the codec's
	// generic form (for JSON, map[string]any and friends).
	Registry *codec.Registry

	// ReadBatch is how many events a subscription or Replay reads per query.
	// Default 500.
	ReadBatch int

	// PollInterval is how often a waiting subscription reads again even
	// without a notification: a safety net for notifications lost while the
	// LISTEN connection reconnects. Default 2s.
	PollInterval time.Duration

	// Logger receives the LISTEN connection's losses and reconnections.
	// Default: slog.Default().
	Logger *slog.Logger
}

// validate refuses negative sizes and durations; zero means the default.
func (c Config) validate() error {
	switch {
	case c.ReadBatch < 0:
		return configError("Config.ReadBatch", "negative")
	case c.PollInterval < 0:
		return configError("Config.PollInterval", "negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.Codec == nil {
		c.Codec = codec.JSON
	}
	if c.ReadBatch <= 0 {
		c.ReadBatch = DefaultReadBatch
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
