package logging

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/novaevents/nova/observe/internal/attempts"
	"github.com/novaevents/nova/shared"
)

// Attribute keys, the same Nova's components use in their own log records.
const (
	KeyEventID   = "event_id"
	KeyEventType = "event_type"
	KeyListener  = "listener"
	KeyAttempt   = "attempt"
	KeyDuration  = "duration"
	KeyError     = "error"
	KeyPanic     = "panic"
	KeyStack     = "stack"
)

// Messages of the records this package writes.
const (
	MsgHandled    = "nova: event handled"
	MsgFailed     = "nova: event handling failed"
	MsgDeadLetter = "nova: event dead-lettered"
	MsgTaskPanic  = "nova: worker-pool task panicked"
)

// Options configures Listener. The zero value logs successes at Info and
// failures at Error.
type Options struct {
	// SuccessLevel is the level of an attempt that succeeded. Default
	// slog.LevelInfo; set slog.LevelDebug to keep them out of production
	// logs (a disabled level costs one Enabled call).
	SuccessLevel slog.Level
	// FailureLevel is the level of an attempt that failed. Default
	// slog.LevelError (the zero Level is Info, so it cannot be Info).
	FailureLevel slog.Level
	// Metadata adds the event's metadata as a group named "metadata".
	// Default false.
	Metadata bool
}

// Listener returns middleware that writes one record per attempt of the
// wrapped listener, after it returns: MsgHandled or MsgFailed with
// event_id, event_type, listener, attempt, duration and, on failure,
// error. A panic in the listener is recovered, logged as a failure with
// its stack, and returned as a *shared.PanicError, as Nova's dispatchers
// would. A nil logger returns the listener unwrapped.
//
// Attempts are numbered 1, 2, … per listener and event ID, from the
// failures the middleware has seen (bounded memory, see the package doc);
// under observe/otel's RabbitMQ Handler the delivery's own count is used.
//
// The record is written with the listener's ctx, so a handler that adds
// the trace (see observe/otel) can correlate it.
func Listener(logger *slog.Logger, opts Options) shared.ListenerMiddleware {
	if opts.FailureLevel == 0 {
		opts.FailureLevel = slog.LevelError
	}
	var tries attempts.Table
	return func(next shared.Listener) shared.Listener {
		if logger == nil || shared.IsNil(next) {
			return next
		}
		id := next.ID()
		return shared.Wrap(next, func(ctx context.Context, e shared.Event) error {
			if ctx == nil {
				ctx = context.Background()
			}
			var eventID, eventType string
			if !shared.IsNil(e) {
				eventID, eventType = e.ID(), e.Type()
			}
			n := tries.Start(ctx, id, eventID)
			start := time.Now()
			err := shared.SafeHandle(ctx, next, e)
			took := time.Since(start)
			tries.Done(id, eventID, err != nil)
			level, msg := opts.SuccessLevel, MsgHandled
			if err != nil {
				level, msg = opts.FailureLevel, MsgFailed
			}
			if !logger.Enabled(ctx, level) {
				return err
			}
			attrs := make([]slog.Attr, 0, 8)
			attrs = append(attrs,
				slog.String(KeyEventID, eventID),
				slog.String(KeyEventType, eventType),
				slog.String(KeyListener, id),
				slog.Int(KeyAttempt, n),
				slog.Duration(KeyDuration, took),
			)
			if err != nil {
				attrs = append(attrs, slog.String(KeyError, err.Error()))
				var pe *shared.PanicError
				if errors.As(err, &pe) {
					attrs = append(attrs, slog.String(KeyStack, string(pe.Stack)))
				}
			}
			if opts.Metadata && !shared.IsNil(e) {
				if md := e.Metadata(); len(md) > 0 {
					g := make([]any, 0, len(md))
					for k, v := range md {
						g = append(g, slog.String(k, v))
					}
					attrs = append(attrs, slog.Group("metadata", g...))
				}
			}
			logger.LogAttrs(ctx, level, msg, attrs...)
			return err
		})
	}
}

// DeadLetter returns a function for listener.DeadLetterConfig.Handler (and
// the bus's) that logs each given-up event at Error with event_id,
// event_type and error.
func DeadLetter(logger *slog.Logger) func(shared.Event, error) {
	return func(e shared.Event, err error) {
		if logger == nil {
			return
		}
		var id, typ string
		if !shared.IsNil(e) {
			id, typ = e.ID(), e.Type()
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		logger.LogAttrs(context.Background(), slog.LevelError, MsgDeadLetter,
			slog.String(KeyEventID, id), slog.String(KeyEventType, typ), slog.String(KeyError, msg))
	}
}

// PanicHandler returns a function for workerpool.WithPanicHandler that logs
// each recovered task panic at Error with its value and stack.
func PanicHandler(logger *slog.Logger) func(*shared.PanicError) {
	return func(pe *shared.PanicError) {
		if logger == nil || pe == nil {
			return
		}
		logger.LogAttrs(context.Background(), slog.LevelError, MsgTaskPanic,
			slog.Any(KeyPanic, pe.Value), slog.String(KeyStack, string(pe.Stack)))
	}
}
