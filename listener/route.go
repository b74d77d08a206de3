package listener

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/internal/callback"
	"github.com/novaevents/nova/shared"
)

// Policy is a dispatcher's policy for the listeners that are not
// registered with its Manager (a bus topic's, an emitter's). Its zero value
// tries a listener up to three times (the zero RetryPolicy) and discards,
// counted, the events it gives up on.
type Policy struct {
	// RetryPolicy and DeadLetter govern the listener while it is not
	// registered; a registration replaces them. DeadLetter.Handler needs
	// DeadLetter.Enabled.
	RetryPolicy RetryPolicy
	DeadLetter  DeadLetterConfig
	// Timeout bounds every attempt, registered or not (a bus topic's
	// HandlerTimeout); when a registration has a Timeout too, the shorter
	// applies. Both follow the rule of shared.HandleWithin. 0: none.
	Timeout time.Duration
}

// RouteConfig is what a dispatcher (the emitter, the bus, a transport's
// consumer) tells the Manager about one subscriber when it takes a Route.
type RouteConfig struct {
	Policy
	// Once says the dispatcher never retries (an AtMostOnce topic): every
	// failed attempt is given up at once, whatever the policy in force
	// says, not counted as exhausted.
	Once bool
	// Metrics and Component receive the attempts, retries and dead letters
	// of the route when the Manager has no Metrics of its own. A Manager's
	// Metrics is used instead, so one Metrics handed to both a dispatcher
	// and its Manager counts each attempt and each dead letter once.
	Metrics   shared.Metrics
	Component string
}

// Route is a dispatcher's handle on one listener: the one contract between
// every dispatcher and the Manager. Attempt makes one attempt and returns
// the complete Verdict; DeadLetter gives an event up. The dispatcher only
// keeps the event and waits the Verdict's delay (on a timer, a delay
// queue, its caller's goroutine); the Manager decides everything else, the
// same way whether the listener is registered (its ListenerConfig) or not
// (the RouteConfig's policies).
//
// A Route follows Register and Unregister: it looks the registration up
// again when the registry changed, so a Route taken before the listener
// was registered applies its policies once it is. It is safe for
// concurrent use. A Route whose RouteConfig has a DeadLetter.Handler owns
// a goroutine for it, started on the first dead letter and ended by the
// Manager's Stop.
type Route struct {
	m     *Manager
	l     shared.Listener
	id    string
	limit time.Duration // RouteConfig.Timeout
	once  bool
	fb    *reg // the policy while l is not registered
	h     hooks
	state atomic.Pointer[routeState]
	_     [24]byte // 128 bytes: see routeState
}

type routeState struct {
	regs  *registry // the snapshot r was found in
	r     *reg      // the registration, or the route's fallback
	limit time.Duration
	plain bool // no limit, breaker, timeout or metrics: see Attempt
	light bool // plain, and r is the route's fallback: nothing to count on success
	// Every attempt reads this state: the padding makes it 128 bytes, a
	// size class whose objects own their cache lines, so that a small
	// object written on every event (a counter) never shares its line.
	_ [95]byte
}

// hooks are where attempts, retries and dead letters are reported.
type hooks struct {
	metrics shared.Metrics
	name    string
	every   uint32                 // time one attempt in every (shared.TimeOneIn)
	bound   shared.AttemptReporter // a route's listener, bound once (shared.AttemptBinder)
}

func newHooks(m shared.Metrics, name string) hooks {
	if shared.IsNil(m) {
		m = nil
	}
	return hooks{metrics: m, name: name, every: shared.TimeOneIn(m)}
}

// bind returns h with its attempts reported through a reporter bound to
// listenerID, when the metrics can bind one.
func (h hooks) bind(listenerID string) hooks {
	if b, ok := h.metrics.(shared.AttemptBinder); ok {
		h.bound = b.BindAttempts(h.name, listenerID)
	}
	return h
}

func (m *Manager) hooks() hooks { return m.hk }

// Verdict is the outcome of one attempt, complete: the dispatcher does
// what it says and decides nothing itself.
//
//   - Err == nil: the attempt succeeded.
//   - Retry(): make attempt Next() after Delay(). Next is the attempt's
//     number again when the open breaker refused it (it never reached the
//     handler). Held() says the wait is the breaker's cool-down in
//     HoldWhileOpen mode: a caller that cannot wait (Manager.Handle) may
//     return the error instead.
//   - otherwise GiveUp() says why the event is given up: the cause, the
//     attempts that reached the handler, and Exhausted when the attempts
//     ran out (then it matches shared.ErrRetryLimitExceeded). Pass it to
//     DeadLetter.
//
// A Verdict is two words and a pointer: the success path returns it in
// registers and allocates nothing; a failure's decision is allocated.
type Verdict struct {
	Err error
	d   *decision // nil on success
}

type decision struct {
	retry  bool
	held   bool
	next   int
	delay  time.Duration
	giveUp *RetryError
}

// Retry reports whether another attempt is due.
func (v Verdict) Retry() bool { return v.d != nil && v.d.retry }

// Next is the number of the attempt to make when Retry.
func (v Verdict) Next() int {
	if v.d == nil {
		return 0
	}
	return v.d.next
}

// Delay is the wait before attempt Next when Retry.
func (v Verdict) Delay() time.Duration {
	if v.d == nil {
		return 0
	}
	return v.d.delay
}

// Held reports whether the retry waits for an open breaker's cool-down.
func (v Verdict) Held() bool { return v.d != nil && v.d.held }

// GiveUp is why the event is given up (nil when it succeeded or is
// retried).
func (v Verdict) GiveUp() *RetryError {
	if v.d == nil {
		return nil
	}
	return v.d.giveUp
}

// Route returns the Route of l for a dispatcher. It refuses a nil
// listener or an empty ID (shared.ErrInvalidListener) and nonsense in cfg
// (ErrInvalidConfig).
func (m *Manager) Route(l shared.Listener, cfg RouteConfig) (*Route, error) {
	m.init()
	if err := shared.ValidateListener(l); err != nil {
		return nil, err
	}
	lc := ListenerConfig{RetryPolicy: cfg.RetryPolicy, DeadLetter: cfg.DeadLetter}
	if err := lc.validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, newConfigError("Timeout", "negative")
	}
	id := l.ID()
	rt := &Route{m: m, l: l, id: id, limit: cfg.Timeout, once: cfg.Once, h: m.hooks()}
	if rt.h.metrics == nil {
		rt.h = newHooks(cfg.Metrics, cfg.Component)
	}
	rt.h = rt.h.bind(id)
	rt.fb = &reg{id: id, cfg: lc.withDefaults(id), counts: m.unreg.counts, light: true}
	rt.fb.cfg.Timeout = cfg.Timeout
	if cfg.DeadLetter.Enabled && cfg.DeadLetter.Handler != nil {
		h := cfg.DeadLetter.Handler
		rt.fb.dlq = callback.New(cfg.DeadLetter.QueueSize, func(d DeadLetter) { h(d.Event, d.Err) },
			func(v any) { m.logPanic("dead-letter handler", id, v) })
		m.mu.Lock()
		if m.state != running {
			rt.fb.dlq.Stop()
		}
		m.routeDLQs = append(m.routeDLQs, rt.fb.dlq)
		m.mu.Unlock()
	}
	rt.relookup()
	return rt, nil
}

// lookup returns the policy in force for the route.
func (rt *Route) lookup() *routeState {
	// state is never nil: Route looks once before it returns.
	if st := rt.state.Load(); st.regs == rt.m.regs.Load() {
		return st
	}
	return rt.relookup()
}

// relookup finds the policy in force after the registry changed.
func (rt *Route) relookup() *routeState {
	cur := rt.m.regs.Load()
	st := &routeState{regs: cur, r: rt.fb, limit: rt.limit}
	if r := cur.get(rt.id); r != nil {
		st.r = r
		if t := r.cfg.Timeout; t > 0 && (st.limit <= 0 || t < st.limit) {
			st.limit = t
		}
	}
	r := st.r
	st.plain = r.sem == nil && r.breaker == nil && st.limit <= 0 && rt.h.metrics == nil
	st.light = st.plain && r.light
	rt.state.Store(st)
	return st
}

// Registered reports whether the route's listener is registered now.
func (rt *Route) Registered() bool { return rt.lookup().r != rt.fb }

// Attempt makes attempt n (1-based) of the route's listener on e and
// returns the Verdict. The attempt runs under the policy in force: the
// concurrency limit (waiting for a slot as long as ctx allows), the
// circuit breaker (refused with a *CircuitOpenError without calling the
// handler), the timeout rule of shared.HandleWithin, and panic recovery (a
// *shared.PanicError with the stack). Its outcome is counted for the
// breaker, health and Stats, and reported to the metrics hook.
//
// e must be valid: a dispatcher checks each event once, with
// shared.Validate, before it reaches any listener. On the success path,
// with no limit, breaker, timeout or metrics, Attempt does not allocate and
// reads no clock.
func (rt *Route) Attempt(ctx context.Context, e shared.Event, n int) Verdict {
	st := rt.state.Load() // lookup, written out: this is every dispatcher's hot path
	if st.regs != rt.m.regs.Load() {
		st = rt.relookup()
	}
	r, m := st.r, rt.m
	var err error
	switch {
	case st.light:
		// A listener that is not registered, under a plain policy: the
		// call, and nothing counted unless it fails.
		if err = shared.SafeHandle(ctx, rt.l, e); err != nil {
			r.fail(err)
		}
	case st.plain:
		err = m.attemptPlain(ctx, r, rt.l, e)
	default:
		err = m.attempt(ctx, r, rt.l, e, st.limit, &rt.h, nil)
	}
	if err == nil {
		return Verdict{}
	}
	return rt.decide(r, e, n, err)
}

// attemptPlain is attempt without what a plain policy does not need: this
// is every dispatcher's hot path. Like attempt, it stops counting the
// attempt as in flight whatever happens in the handler (a panic is
// recovered, runtime.Goexit is not).
func (m *Manager) attemptPlain(ctx context.Context, r *reg, l shared.Listener, e shared.Event) (err error) {
	r.started.Add(1)
	defer m.finishPlain(r)
	if err = shared.SafeHandle(ctx, l, e); err == nil {
		if r.consecutive.Load() != 0 {
			r.consecutive.Store(0)
		}
	} else {
		r.fail(err)
	}
	return err
}

func (m *Manager) finishPlain(r *reg) {
	r.finished.Add(1)
	if m.stopping.Load() {
		m.signal()
	}
}

// Decide returns the Verdict on attempt n of e failing with err before it
// reached the handler, on the dispatcher's side (an idempotency store that
// failed): the same decision as for an attempt, without the attempt.
func (rt *Route) Decide(e shared.Event, n int, err error) Verdict {
	if err == nil {
		return Verdict{}
	}
	return rt.decide(rt.lookup().r, e, n, err)
}

func (rt *Route) decide(r *reg, e shared.Event, n int, err error) Verdict {
	if rt.once {
		return Verdict{Err: err, d: &decision{giveUp: r.giveUp(rt.id, e, n, err, false)}}
	}
	v := r.next(n, err)
	if !v.retry {
		return Verdict{Err: err, d: &decision{giveUp: r.giveUp(rt.id, e, n, v.cause, v.exhausted)}}
	}
	held := false
	if r.breaker != nil && r.cfg.Circuit.WhileOpen == HoldWhileOpen {
		if errors.Is(err, ErrCircuitOpen) {
			held = true
		} else if after := r.breaker.retryAfter(); after > v.delay {
			// A retry the open breaker would refuse after the backoff
			// waits for the cool-down instead.
			v.delay, held = after, true
		}
	}
	r.retries.Add(1)
	if rt.h.metrics != nil {
		rt.h.metrics.EventRetried(rt.h.name, rt.id)
	}
	return Verdict{Err: err, d: &decision{retry: true, next: v.next, delay: v.delay, held: held}}
}

// DeadLetter gives e up under the policy in force: with dead letters
// enabled it is kept in the Manager's store (where it can be listed,
// inspected and redriven) and handed once to the DeadLetter.Handler on a
// goroutine the Manager owns, never blocking the caller; without, it is
// discarded and counted. err is the reason: a Verdict's GiveUp, or a
// dispatcher's error that carries the attempt count (an AttemptCounter).
func (rt *Route) DeadLetter(e shared.Event, err error) {
	r := rt.lookup().r
	rt.m.store1(r, rt.h, rt.id, e, err, r.cfg.DeadLetter.Enabled)
}
