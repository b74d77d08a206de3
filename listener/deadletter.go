package listener

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/novaevents/nova/internal/callback"
	"github.com/novaevents/nova/shared"
)

// DeadLetterConfig says what happens to an event a listener has given up on
// (its retries are exhausted, its error is permanent or not retryable, or
// its breaker is open in DeadLetterWhileOpen mode).
//
// With Enabled, the event is kept in the manager's dead-letter store (where
// it can be listed, inspected and redriven) and passed to Handler. Without
// it, the event is only counted (ListenerStats.DeadLettersDiscarded) and
// reported to the metrics hook as dropped with reason
// "dead_letter_disabled".
type DeadLetterConfig struct {
	// Enabled turns dead-lettering on for the listener. Default false.
	Enabled bool
	// Handler, if set, is called with each dead-lettered event and its
	// error (a *RetryError wrapping the last error). It needs Enabled:
	// Register refuses a Handler without it (a *ConfigError for
	// "DeadLetter.Handler", matching ErrInvalidConfig) rather than
	// silently never calling it. It runs on a
	// goroutine the manager owns, one per listener, behind a queue of
	// QueueSize: a slow Handler never blocks event processing. A dead
	// letter that finds the queue full is still in the store and counted
	// in Stats.DeadLetterHandlerOverflow. A panic in Handler is recovered
	// and counted.
	Handler func(shared.Event, error)
	// QueueSize bounds the dead letters waiting for Handler. 0 means
	// DefaultDeadLetterQueueSize (256).
	QueueSize int
}

func (m *Manager) deadLetter(r *reg, h hooks, id string, e shared.Event, err error) {
	m.store1(r, h, id, e, err, r != m.unreg && r.cfg.DeadLetter.Enabled)
}

func (m *Manager) store1(r *reg, h hooks, id string, e shared.Event, err error, keep bool) {
	if !keep {
		r.discarded.Add(1)
		if h.metrics != nil {
			h.metrics.EventDropped(h.name, "dead_letter_disabled")
		}
		if m.log != nil {
			m.log.Warn("listener: event given up and discarded (dead letters not enabled)",
				"listener", id, "event_id", eventID(e), "error", errString(err))
		}
		return
	}
	d := DeadLetter{
		ID:         "dl-" + strconv.FormatUint(m.dlSeq.Add(1), 10),
		ListenerID: id,
		Event:      e,
		Err:        err,
		Error:      errString(err),
		At:         time.Now(),
	}
	var ac AttemptCounter
	if errors.As(err, &ac) {
		d.Attempts = ac.AttemptCount()
	}
	r.deadLetters.Add(1)
	if h.metrics != nil {
		h.metrics.EventDeadLettered(h.name, id)
	}
	dropped, serr := m.store.Add(context.Background(), d)
	m.dlEvicted.Add(uint64(max(dropped, 0)))
	stored := serr == nil
	if stored {
		m.dlStored.Add(1)
	} else {
		m.dlStoreErrs.Add(1)
	}
	res := callback.Stopped
	if r.dlq != nil {
		res = r.dlq.Send(d)
	}
	switch {
	case res == callback.Sent:
	case !stored:
		m.dlLost.Add(1)
		if m.log != nil {
			m.log.Error("listener: dead letter lost: the store refused it and its handler could not take it",
				"listener", id, "event_id", eventID(e), "error", errString(err), "store_error", serr)
		}
	case r.dlq != nil && m.log != nil:
		m.log.Warn("listener: dead letter stored but not passed to its handler (queue full or manager stopped)",
			"listener", id, "event_id", eventID(e), "dead_letter", d.ID)
	}
}

// DeadLetters lists the stored dead letters f selects, the oldest first.
func (m *Manager) DeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error) {
	m.init()
	return m.store.List(ctx, f)
}

// InspectDeadLetter returns one stored dead letter, or an error matching
// ErrDeadLetterNotFound.
func (m *Manager) InspectDeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	m.init()
	return m.store.Get(ctx, id)
}

// RemoveDeadLetter deletes one stored dead letter without redriving it.
func (m *Manager) RemoveDeadLetter(ctx context.Context, id string) error {
	m.init()
	return m.store.Remove(ctx, id)
}

// Redrive publishes the dead letter id again with publish (typically a
// bus's Publish bound to a topic, or an emitter's Emit) and removes it from
// the store. It is taken out of the store first, so two concurrent
// redrives of one entry publish it once; if publish fails it is put back
// and the error returned.
func (m *Manager) Redrive(ctx context.Context, id string, publish func(context.Context, shared.Event) error) error {
	m.init()
	if publish == nil {
		return newConfigError("publish", "nil")
	}
	d, err := m.store.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := m.store.Remove(ctx, id); err != nil {
		return err // someone else took it
	}
	if perr := publish(ctx, d.Event); perr != nil {
		if _, aerr := m.store.Add(context.WithoutCancel(ctx), d); aerr != nil {
			m.dlLost.Add(1)
			return fmt.Errorf("listener: redrive %s: %w (and putting it back failed: %w)", id, perr, aerr)
		}
		return fmt.Errorf("listener: redrive %s: %w", id, perr)
	}
	m.dlRedriven.Add(1)
	return nil
}

// RedriveAll redrives every dead letter f selects, the oldest first, and
// returns how many were published. It goes on past failures and returns
// them joined; it stops early if ctx ends.
func (m *Manager) RedriveAll(ctx context.Context, f DeadLetterFilter, publish func(context.Context, shared.Event) error) (int, error) {
	m.init()
	list, err := m.store.List(ctx, f)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, d := range list {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		if err := m.Redrive(ctx, d.ID, publish); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
