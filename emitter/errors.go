package emitter

import (
	"errors"

	"github.com/novaevents/nova/shared"
)

// Errors returned by the emitter. The closed and buffer-full errors are the
// shared sentinels, so errors.Is works with either package's name.
var (
	// ErrEmitterClosed is returned by every call made after Shutdown began.
	ErrEmitterClosed = shared.ErrEmitterClosed
	// ErrBufferFull is returned by EmitAsync under OverflowReject when the
	// async buffer is full.
	ErrBufferFull = shared.ErrBufferFull
	// ErrInvalidEvent is matched by the validation errors of nil events and
	// events with an empty ID or type.
	ErrInvalidEvent = shared.ErrInvalidEvent
	// ErrInvalidSubscription is returned (through the inactive Subscription's
	// Unsubscribe and by SubscribeE) for a nil listener, an empty listener ID
	// or a malformed pattern.
	ErrInvalidSubscription = errors.New("emitter: invalid subscription")
)
