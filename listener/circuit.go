package listener

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// CircuitState is the state of a listener's circuit breaker.
type CircuitState int32

const (
	// CircuitClosed lets every attempt through. It is the initial state.
	CircuitClosed CircuitState = iota
	// CircuitOpen refuses every attempt with ErrCircuitOpen until the
	// cool-down has passed.
	CircuitOpen
	// CircuitHalfOpen lets a bounded number of probe attempts through: enough
	// successes close the breaker, one failure opens it again.
	CircuitHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s CircuitState) String() string {
	switch s {
	case CircuitClosed:
		return "closed"
	case CircuitOpen:
		return "open"
	case CircuitHalfOpen:
		return "half-open"
	}
	return "CircuitState(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText encodes the state as its String, for JSON.
func (s CircuitState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// OpenAction says what happens to an event whose attempt an open breaker
// refused. Either way it is not lost.
type OpenAction int

const (
	// HoldWhileOpen keeps the event for redelivery once the breaker lets
	// probes through again, wherever it is kept. The refused attempt does
	// not count against RetryPolicy.MaxAttempts: the handler never saw the
	// event. It is the default.
	//
	// Who holds the event depends on the caller. Manager.Handle's caller
	// still has the event, and is not blocked for the cool-down: Handle
	// returns at once with an error matching ErrCircuitOpen (errors.As
	// finds the *CircuitOpenError and its RetryAfter), without
	// dead-lettering, and the caller decides when to try again. A
	// dispatcher (the emitter, the bus) gets a Verdict to retry after the
	// cool-down, marked Held, and keeps the event until then.
	HoldWhileOpen OpenAction = iota
	// DeadLetterWhileOpen sends the event to the dead letter at once.
	DeadLetterWhileOpen
)

// String returns "hold" or "dead-letter".
func (a OpenAction) String() string {
	switch a {
	case HoldWhileOpen:
		return "hold"
	case DeadLetterWhileOpen:
		return "dead-letter"
	}
	return "OpenAction(" + strconv.Itoa(int(a)) + ")"
}

// CircuitConfig configures a listener's circuit breaker. The zero value
// (Enabled false) has no breaker.
//
// The breaker opens after FailureThreshold failures in a row, or when, with
// FailureRate set, at least MinRequests attempts were made in the last
// Window and the share of failures among them reached FailureRate. Open, it
// refuses attempts for CoolDown; then it lets HalfOpenProbes attempts
// through; SuccessThreshold successes among them close it again and any
// failure opens it for another CoolDown. A success in the closed state ends
// the run of failures: 4 failures, a success and 1 failure make a run of 1.
type CircuitConfig struct {
	// Enabled turns the breaker on. Default false.
	Enabled bool
	// FailureThreshold is the number of consecutive failures that opens the
	// breaker. 0 means DefaultFailureThreshold (5).
	FailureThreshold int
	// FailureRate, in (0, 1], also opens the breaker when that share of the
	// attempts in Window failed. 0 (the default) turns the rule off.
	FailureRate float64
	// Window is the sliding window of the FailureRate rule, kept as ten
	// buckets. 0 means DefaultWindow (60s).
	Window time.Duration
	// MinRequests is the number of attempts in Window below which the
	// FailureRate rule does not apply. 0 means DefaultMinRequests (20).
	MinRequests int
	// CoolDown is how long the breaker stays open before letting probes
	// through. 0 means DefaultCoolDown (30s).
	CoolDown time.Duration
	// SuccessThreshold is the number of successful probes that closes a
	// half-open breaker. 0 means DefaultSuccessThreshold (1).
	SuccessThreshold int
	// HalfOpenProbes is the number of attempts a half-open breaker lets
	// through; further attempts get ErrCircuitOpen until the probes have
	// decided. 0 means SuccessThreshold; it cannot be lower.
	HalfOpenProbes int
	// IsFailure decides which errors count against the breaker. nil counts
	// every error. Either way an attempt that failed only because the
	// caller's own context was cancelled is not counted. If IsFailure
	// panics, the panic is recovered (and logged with ManagerConfig.Logger)
	// and the error counts as a failure.
	IsFailure func(error) bool
	// WhileOpen says what happens to events refused by the open breaker.
	// The default is HoldWhileOpen, under which a synchronous Handle
	// returns an error matching ErrCircuitOpen at once (the caller keeps
	// the event) while a Route's Verdict holds the event until the
	// cool-down is over; with DeadLetterWhileOpen every caller
	// dead-letters it at once. See HoldWhileOpen.
	WhileOpen OpenAction
	// OnStateChange, if set, is told of every transition. It runs on a
	// goroutine the manager owns, behind a bounded queue: it never blocks an
	// attempt, and a transition it is too slow for is counted in
	// Stats.CallbacksDropped.
	OnStateChange func(listenerID string, from, to CircuitState)
}

func (c CircuitConfig) withDefaults() CircuitConfig {
	if !c.Enabled {
		return c
	}
	if c.FailureThreshold == 0 {
		c.FailureThreshold = DefaultFailureThreshold
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.MinRequests == 0 {
		c.MinRequests = DefaultMinRequests
	}
	if c.CoolDown == 0 {
		c.CoolDown = DefaultCoolDown
	}
	if c.SuccessThreshold == 0 {
		c.SuccessThreshold = DefaultSuccessThreshold
	}
	if c.HalfOpenProbes == 0 {
		c.HalfOpenProbes = c.SuccessThreshold
	}
	return c
}

func (c CircuitConfig) validate() error {
	switch {
	case !c.Enabled:
		return nil
	case c.FailureThreshold < 0:
		return newConfigError("Circuit.FailureThreshold", "negative")
	case c.FailureRate < 0 || c.FailureRate > 1:
		return newConfigError("Circuit.FailureRate", "outside [0, 1]")
	case c.Window < 0:
		return newConfigError("Circuit.Window", "negative")
	case c.MinRequests < 0:
		return newConfigError("Circuit.MinRequests", "negative")
	case c.CoolDown < 0:
		return newConfigError("Circuit.CoolDown", "negative")
	case c.SuccessThreshold < 0:
		return newConfigError("Circuit.SuccessThreshold", "negative")
	case c.HalfOpenProbes < 0:
		return newConfigError("Circuit.HalfOpenProbes", "negative")
	case c.WhileOpen < HoldWhileOpen || c.WhileOpen > DeadLetterWhileOpen:
		return newConfigError("Circuit.WhileOpen", "unknown action "+c.WhileOpen.String())
	case c.HalfOpenProbes > 0 && c.SuccessThreshold > c.HalfOpenProbes:
		return newConfigError("Circuit.HalfOpenProbes", "lower than SuccessThreshold: the breaker could never close")
	}
	return nil
}

const windowBuckets = 10

// breaker is one listener's circuit breaker. The closed state's success
// path is lock-free unless the failure-rate window is on; everything else
// takes mu.
type breaker struct {
	cfg      CircuitConfig
	id       string
	notify   func(from, to CircuitState)
	panicked func(v any) // told of a recovered IsFailure panic; may be nil

	state       atomic.Int32
	gen         atomic.Uint64 // bumped on every transition; outcomes of older generations are ignored
	consecutive atomic.Int64  // failures in a row while closed
	opens       atomic.Uint64

	mu        sync.Mutex
	openedAt  time.Time
	admitted  int // probes let through in this half-open period
	successes int // successful probes in this half-open period
	bucketW   time.Duration
	buckets   [windowBuckets]bucket
}

type bucket struct {
	idx             int64
	total, failures int
}

func newBreaker(id string, cfg CircuitConfig, notify func(from, to CircuitState)) *breaker {
	b := &breaker{cfg: cfg, id: id, notify: notify}
	if cfg.FailureRate > 0 {
		b.bucketW = max(cfg.Window/windowBuckets, time.Nanosecond)
	}
	return b
}

// State returns the current state, moving an open breaker whose cool-down
// is over to half-open.
func (b *breaker) State() CircuitState {
	s := CircuitState(b.state.Load())
	if s != CircuitOpen {
		return s
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.coolDownOverLocked(time.Now())
	return CircuitState(b.state.Load())
}

// allow asks to make an attempt. It returns the generation to report the
// outcome under, or a *CircuitOpenError.
func (b *breaker) allow() (uint64, error) {
	g := b.gen.Load()
	if CircuitState(b.state.Load()) == CircuitClosed {
		return g, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.coolDownOverLocked(now)
	switch CircuitState(b.state.Load()) {
	case CircuitClosed:
		return b.gen.Load(), nil
	case CircuitOpen:
		return 0, &CircuitOpenError{ListenerID: b.id, RetryAfter: b.openedAt.Add(b.cfg.CoolDown).Sub(now)}
	default: // half-open
		if b.admitted >= b.cfg.HalfOpenProbes {
			return 0, &CircuitOpenError{ListenerID: b.id}
		}
		b.admitted++
		return b.gen.Load(), nil
	}
}

// retryAfter is how long until an open breaker lets a probe through: 0 when
// it is not open.
func (b *breaker) retryAfter() time.Duration {
	if CircuitState(b.state.Load()) != CircuitOpen {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if CircuitState(b.state.Load()) != CircuitOpen {
		return 0
	}
	return max(time.Until(b.openedAt.Add(b.cfg.CoolDown)), 0)
}

// record reports the outcome of an attempt allowed under generation g.
// callerDone is true when the caller's own context ended: such an outcome
// says nothing about the listener and only gives the probe slot back.
func (b *breaker) record(g uint64, err error, callerDone bool) {
	neutral := err != nil && callerDone
	failed := err != nil && !neutral && b.isFailure(err)
	if !failed && !neutral && b.bucketW == 0 && CircuitState(b.state.Load()) == CircuitClosed {
		// The hot path: a success while closed just ends the run of failures.
		if b.consecutive.Load() != 0 && b.gen.Load() == g {
			b.consecutive.Store(0)
		}
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if g != b.gen.Load() {
		return // decided under an earlier state
	}
	switch CircuitState(b.state.Load()) {
	case CircuitClosed:
		if neutral {
			return
		}
		now := time.Now()
		rateOpen := b.bucketW > 0 && b.addLocked(now, failed)
		if !failed {
			b.consecutive.Store(0)
			return
		}
		if b.consecutive.Add(1) >= int64(b.cfg.FailureThreshold) || rateOpen {
			b.toLocked(CircuitOpen, now)
		}
	case CircuitHalfOpen:
		switch {
		case neutral:
			b.admitted--
		case failed:
			b.toLocked(CircuitOpen, time.Now())
		default:
			b.successes++
			if b.successes >= b.cfg.SuccessThreshold {
				b.toLocked(CircuitClosed, time.Now())
			}
		}
	}
}

// isFailure applies cfg.IsFailure to a non-nil err. A panicking IsFailure
// counts err as a failure: the attempt still gets recorded, and the caller's
// bookkeeping still runs.
func (b *breaker) isFailure(err error) (failed bool) {
	if b.cfg.IsFailure == nil {
		return true
	}
	defer func() {
		if v := recover(); v != nil {
			failed = true
			if b.panicked != nil {
				b.panicked(v)
			}
		}
	}()
	return b.cfg.IsFailure(err)
}

func (b *breaker) coolDownOverLocked(now time.Time) {
	if CircuitState(b.state.Load()) == CircuitOpen && !now.Before(b.openedAt.Add(b.cfg.CoolDown)) {
		b.toLocked(CircuitHalfOpen, now)
	}
}

func (b *breaker) toLocked(to CircuitState, now time.Time) {
	from := CircuitState(b.state.Load())
	if from == to {
		return
	}
	b.gen.Add(1)
	b.state.Store(int32(to))
	switch to {
	case CircuitOpen:
		b.openedAt = now
		b.opens.Add(1)
	case CircuitHalfOpen:
		b.admitted, b.successes = 0, 0
	case CircuitClosed:
		b.consecutive.Store(0)
		b.buckets = [windowBuckets]bucket{}
	}
	if b.notify != nil {
		b.notify(from, to)
	}
}

// addLocked counts one outcome in the sliding window and reports whether
// the failure-rate rule now says open.
func (b *breaker) addLocked(now time.Time, failed bool) bool {
	idx := now.UnixNano() / int64(b.bucketW)
	bk := &b.buckets[idx%windowBuckets]
	if bk.idx != idx {
		*bk = bucket{idx: idx}
	}
	bk.total++
	if failed {
		bk.failures++
	}
	total, failures := 0, 0
	for i := range b.buckets {
		if b.buckets[i].idx > idx-windowBuckets {
			total += b.buckets[i].total
			failures += b.buckets[i].failures
		}
	}
	return total >= b.cfg.MinRequests && float64(failures) >= b.cfg.FailureRate*float64(total)
}

// callerDone reports whether err is only the caller's own context ending.
func callerDone(ctx context.Context, err error) bool {
	cerr := ctx.Err()
	return cerr != nil && errors.Is(err, cerr)
}
