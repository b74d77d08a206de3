package emitter

import (
	"errors"

	"github.com/novaevents/nova/shared"
)

// Errors returned by the emitter. The buffer-full and invalid-event errors
// are the shared sentinels, so errors.Is works with either package's name.
var (
	// ErrClosed is returned by every call made after Shutdown began.
	ErrClosed = errors.New("emitter: closed")
	// ErrEmitterClosed is ErrClosed.
	//
	// Deprecated: use ErrClosed, the name every Nova package gives its
	// closed error.
	ErrEmitterClosed = ErrClosed
	// ErrBufferFull is returned by EmitAsync under workerpool.RejectNew when the
	// async buffer is full.
	ErrBufferFull = shared.ErrBufferFull
	// ErrInvalidEvent is matched by the validation errors of nil events and
	// events with an empty ID or type.
	ErrInvalidEvent = shared.ErrInvalidEvent
	// ErrInvalidSubscription is returned (through the inactive Subscription's
	// Unsubscribe and by SubscribeE) for a nil listener, an empty listener ID
	// or a malformed pattern.
	ErrInvalidSubscription = errors.New("emitter: invalid subscription")
	// ErrNotInitialized is returned by every method of an Emitter that was
	// not made by New (the zero Emitter).
	ErrNotInitialized = errors.New("emitter: zero Emitter: create it with emitter.New")
	// ErrInvalidConfig is matched by the *ConfigError that every method of
	// an Emitter made from a nonsensical Config returns. It is
	// shared.ErrInvalidConfig.
	ErrInvalidConfig = shared.ErrInvalidConfig
)

// ConfigError says which Config field New refused, and why: it is
// shared.ConfigError, the one shape every Nova package refuses a setting
// in. It matches ErrInvalidConfig.
type ConfigError = shared.ConfigError
