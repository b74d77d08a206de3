package listener

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/novaevents/nova/shared"
)

// attempt makes one attempt. With held set (Handle), an attempt that reached
// the handler and failed counts the caller in m.handling before it stops
// counting as in flight, so Stop never sees a moment when a Handle about to
// retry is invisible; *held says whether that happened.
//
// limit is the attempt's deadline (0: none), applied under the one timeout
// rule of shared.HandleWithin; h receives the attempt's timing.
func (m *Manager) attempt(ctx context.Context, r *reg, l shared.Listener, e shared.Event, limit time.Duration, h *hooks, held *bool) error {
	if r.breaker != nil && r.sem != nil {
		// Do not queue for a slot only to be refused after it.
		if after := r.breaker.retryAfter(); after > 0 {
			r.rejected.Add(1)
			return &CircuitOpenError{ListenerID: r.id, RetryAfter: after}
		}
	}
	if r.sem != nil {
		select {
		case r.sem <- struct{}{}:
		default:
			select {
			case r.sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	var gen uint64
	if r.breaker != nil {
		g, err := r.breaker.allow()
		if err != nil {
			if r.sem != nil {
				<-r.sem
			}
			r.rejected.Add(1)
			return err
		}
		gen = g
	}

	// Deferred, so that whatever panics on the way out (a Metrics hook),
	// the attempt stops counting as in flight and its slot is given back:
	// Stop never waits for an attempt that is over.
	if !r.light {
		r.started.Add(1)
		defer m.finish(r)
	}
	var start time.Duration
	timed := h.metrics != nil && shared.TimeThis(h.every)
	if timed {
		start = monotonic()
	}
	err := shared.HandleWithin(ctx, limit, l, e)
	if h.metrics != nil {
		took := time.Duration(-1)
		if timed {
			took = monotonic() - start
		}
		if h.bound != nil {
			h.bound.Attempted(took, err)
		} else {
			h.metrics.EventHandled(h.name, l.ID(), e.Type(), took, err)
		}
	}
	if r.breaker != nil {
		r.breaker.record(gen, err, err != nil && callerDone(ctx, err))
	}
	if err == nil {
		if r.consecutive.Load() != 0 {
			r.consecutive.Store(0)
		}
	} else {
		r.fail(err)
		if held != nil {
			m.handling.Add(1)
			*held = true
		}
	}
	return err
}

// epoch is the origin of monotonic.
var epoch = time.Now()

// monotonic reads the monotonic clock only: half of what time.Now costs,
// which also reads the wall clock.
func monotonic() time.Duration { return time.Since(epoch) }

// finish ends an attempt that reached the handler: its concurrency slot is
// given back and it stops counting as in flight.
func (m *Manager) finish(r *reg) {
	if r.sem != nil {
		<-r.sem
	}
	r.finished.Add(1)
	if m.stopping.Load() {
		m.signal()
	}
}

// isNilListener is shared.IsNil with a fast path for the common listener
// type, which spares the success path a reflection call.
func isNilListener(l shared.Listener) bool {
	if bl, ok := l.(*shared.BaseListener); ok {
		return bl == nil
	}
	return shared.IsNil(l)
}

func (r *reg) fail(err error) {
	if r.light {
		// Counted as an attempt only now: see reg.light.
		r.started.Add(1)
		r.finished.Add(1)
	}
	r.failures.Add(1)
	r.consecutive.Add(1)
	var pe *shared.PanicError
	switch {
	case errors.Is(err, shared.ErrTimeout):
		r.timeouts.Add(1)
	case errors.As(err, &pe):
		r.panics.Add(1)
	}
	r.mu.Lock()
	r.lastErr, r.lastErrAt = err, time.Now()
	r.mu.Unlock()
}

// RetryError is how a Manager reports giving up on an event: it is returned
// by Handle and passed to DeadLetter handlers. It matches
// shared.ErrRetryLimitExceeded when the attempts ran out (not when the error
// was permanent or not retryable), and unwraps to the last error.
type RetryError struct {
	ListenerID string
	EventID    string
	Attempts   int  // attempts that reached the handler
	Exhausted  bool // true when MaxAttempts ran out
	Err        error
}

func (e *RetryError) Error() string {
	return "listener: " + quote(e.ListenerID) + " gave up on event " + quote(e.EventID) +
		" after " + strconv.Itoa(e.Attempts) + " attempt(s): " + errString(e.Err)
}

// Is reports whether target is shared.ErrRetryLimitExceeded and the attempts
// ran out.
func (e *RetryError) Is(target error) bool {
	return target == shared.ErrRetryLimitExceeded && e.Exhausted
}

// Unwrap returns the last error.
func (e *RetryError) Unwrap() error { return e.Err }

// AttemptCount returns Attempts: a *RetryError is an AttemptCounter.
func (e *RetryError) AttemptCount() int { return e.Attempts }

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// verdict is what follows a failed attempt.
type verdict struct {
	delay     time.Duration // before the next attempt
	next      int           // the number of the next attempt
	retry     bool          // false: give up
	exhausted bool          // giving up because the attempts ran out
	cause     error         // giving up with this error
}

// next decides what follows attempt n failing with err. An attempt refused
// by an open breaker is tried again under the same number in HoldWhileOpen
// mode, after the breaker's cool-down: that is for callers that keep the
// event (a Route's dispatcher); Handle returns instead (see retryInline).
func (r *reg) next(n int, err error) verdict {
	if r.breaker != nil && errors.Is(err, ErrCircuitOpen) {
		if r.cfg.Circuit.WhileOpen == DeadLetterWhileOpen {
			return verdict{next: n, cause: err}
		}
		var coe *CircuitOpenError
		if errors.As(err, &coe) && coe.RetryAfter > 0 {
			return verdict{delay: coe.RetryAfter, next: n, retry: true}
		}
		return verdict{delay: r.cfg.RetryPolicy.Delay(1), next: n, retry: true}
	}
	d, retry, exhausted, cause := r.cfg.RetryPolicy.decide(n, err)
	return verdict{delay: d, next: n + 1, retry: retry, exhausted: exhausted, cause: cause}
}

// giveUp is the *RetryError of an event given up after attempt n failed
// with err.
func (r *reg) giveUp(id string, e shared.Event, n int, err error, exhausted bool) *RetryError {
	attempts := n
	if errors.Is(err, ErrCircuitOpen) {
		attempts = n - 1 // the last one never reached the handler
	}
	return &RetryError{
		ListenerID: id,
		EventID:    eventID(e),
		Attempts:   attempts,
		Exhausted:  exhausted,
		Err:        err,
	}
}

// stoppedGiveUp is the *RetryError of an event dead-lettered because Stop
// ran out of time, or ran before a retry could be scheduled.
func (r *reg) stoppedGiveUp(id string, e shared.Event, n int, err error) *RetryError {
	return r.giveUp(id, e, n, fmt.Errorf("%w: %w", ErrClosed, err), false)
}

func eventID(e shared.Event) string {
	if shared.IsNil(e) {
		return ""
	}
	return e.ID()
}

// Handle runs the whole policy of l on e on the calling goroutine, for
// synchronous callers: attempts (see Route.Attempt) with the RetryPolicy's
// backoff waits between them, then, if it gives up, the dead letter. It
// returns nil once an attempt succeeded, or the *RetryError it
// dead-lettered.
//
// While the circuit is open, Handle does not wait for the cool-down. In
// HoldWhileOpen mode (the default) it returns at once an error matching
// ErrCircuitOpen (errors.As finds the *CircuitOpenError, with RetryAfter,
// and the last handler error if attempts failed first); the event is not
// dead-lettered: the caller still has it and decides when to try again. It
// also returns so, before waiting, when a retry's backoff would end before
// the breaker lets a probe through. In DeadLetterWhileOpen mode it
// dead-letters the event and returns the *RetryError, which also matches
// ErrCircuitOpen.
//
// A RetryCondition that panics means "not retryable": the event is
// dead-lettered with a *RetryError wrapping a *CallbackPanicError.
//
// If ctx ends, Handle returns at once with an error matching ctx.Err() and
// the last attempt's error: the event is neither retried nor
// dead-lettered, the caller decides. If Stop runs out of time while Handle
// waits, the event is dead-lettered with an error matching ErrClosed.
//
// An unregistered listener gets the zero ListenerConfig: three attempts,
// default backoff, and an event it gives up on is discarded (counted).
func (m *Manager) Handle(ctx context.Context, l shared.Listener, e shared.Event) error {
	m.init()
	if isNilListener(l) {
		return ErrNilListener
	}
	if err := shared.Validate(e); err != nil {
		return err
	}
	r := m.regFor(l.ID())
	if err := m.firstAttempt(ctx, r, l, e); err != nil {
		return m.retryInline(ctx, r, l, e, err)
	}
	return nil // the success path pays for no Handle bookkeeping
}

// firstAttempt makes Handle's first attempt through the general path (a
// plain registration's goes through attemptPlain with hold). When it
// fails, the caller is counted in m.handling before the attempt leaves the
// in-flight count (or, refused before the handler, it was never in
// flight), so Stop never sees a gap; retryInline stops counting it.
func (m *Manager) firstAttempt(ctx context.Context, r *reg, l shared.Listener, e shared.Event) error {
	var held bool
	err := m.attempt(ctx, r, l, e, r.cfg.Timeout, &m.hk, &held)
	if err != nil && !held {
		m.handling.Add(1)
	}
	return err
}

// retryInline is Handle after a failed first attempt; the caller is counted
// in m.handling, and stops being counted when it returns.
func (m *Manager) retryInline(ctx context.Context, r *reg, l shared.Listener, e shared.Event, err error) error {
	defer func() {
		m.handling.Add(-1)
		if m.stopping.Load() {
			m.signal()
		}
	}()
	id := l.ID()
	cut := *m.cut.Load()
	var last error // the last error of an attempt that reached the handler
	for n, first := 1, true; ; first = false {
		if !first {
			if err = m.attempt(ctx, r, l, e, r.cfg.Timeout, &m.hk, nil); err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("listener: %q stopped handling event %q: %w (last error: %w)", id, e.ID(), ctx.Err(), err)
		}
		hold := r.breaker != nil && r.cfg.Circuit.WhileOpen == HoldWhileOpen
		if hold && errors.Is(err, ErrCircuitOpen) {
			return refusedWhileOpen(id, e, err, last)
		}
		last = err
		v := r.next(n, err)
		if !v.retry {
			gerr := r.giveUp(id, e, n, v.cause, v.exhausted)
			m.deadLetter(r, m.hooks(), id, e, gerr)
			return gerr
		}
		if hold {
			// A retry the open breaker would refuse after the backoff is
			// refused now: the caller is not kept waiting for nothing.
			if after := r.breaker.retryAfter(); after > v.delay {
				return refusedWhileOpen(id, e, &CircuitOpenError{ListenerID: r.id, RetryAfter: after}, last)
			}
		}
		r.retries.Add(1)
		if m.metrics != nil {
			m.metrics.EventRetried(m.name, id)
		}
		t := time.NewTimer(v.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("listener: %q stopped handling event %q: %w (last error: %w)", id, e.ID(), ctx.Err(), err)
		case <-cut:
			t.Stop()
			gerr := r.stoppedGiveUp(id, e, n, err)
			m.deadLetter(r, m.hooks(), id, e, gerr)
			return gerr
		}
		n = v.next
	}
}

// refusedWhileOpen is Handle's error for an event the open breaker refused
// in HoldWhileOpen mode: open, the *CircuitOpenError itself if no attempt
// reached the handler, else it wrapped with last, the handler's last error.
func refusedWhileOpen(id string, e shared.Event, open, last error) error {
	if last == nil {
		return open
	}
	return fmt.Errorf("listener: %q did not handle event %q: %w (last error: %w)", id, e.ID(), open, last)
}
