package emitter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/internal/delay"
	"github.com/novaevents/nova/internal/drain"
	"github.com/novaevents/nova/internal/shutdown"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// Emitter delivers events to the listeners subscribed to their type, either
// in the caller's goroutine (Emit) or through a bounded buffer drained on a
// worker pool (EmitAsync). It is safe for concurrent use.
//
// It starts one goroutine of its own, which hands drain work to the pool
// when the pool's queue is full; Shutdown stops it. Async handlers run on the
// pool, never on a goroutine per event.
//
// Make it with New: the zero Emitter is not usable, and its methods say so
// (ErrNotInitialized; Stats is zero, Listeners nil, Middleware and
// WrapListeners do nothing) rather than panic.
type Emitter struct {
	bad      error // the Config's *ConfigError: nothing else is set
	cfg      Config
	name     string
	pool     *workerpool.Pool
	ownsPool bool

	mu    sync.Mutex // serialises writers of table
	table atomic.Pointer[table]

	// state counts calls inside EmitAsync; closedBit is set when Shutdown
	// begins. The producer writes it twice per event, so it has a cache
	// line of its own: next to table or buf, every write would evict what
	// the drainers read.
	_           [64]byte
	state       atomic.Int64
	_           [56]byte
	closing     chan struct{} // closed when Shutdown begins
	callersDone chan struct{} // closed when no call is inside after closing
	callersOnce sync.Once

	buf     *buffer
	waiters atomic.Int32  // EmitAsync calls waiting for room in buf
	space   chan struct{} // wakes a waiting EmitAsync when a drainer frees room
	active  drain.Slots   // drainers running or queued on the pool, at most MaxConcurrency

	lm     *listener.Manager // Config.Listeners, or the emitter's own
	ownsLM bool

	retryMu  sync.Mutex
	delay    *delay.Queue // started on the first retry
	retryQ   []retryItem  // managed-listener retries due now
	retryLen atomic.Int32 // len(retryQ), read without the lock
	retrying atomic.Int64 // retries scheduled or queued, not yet finished
	drainFn  func()
	rescue   *drain.Rescuer // submits drainers the pool's full queue refused

	idle     chan struct{} // closed when closing and nothing is pending or active
	idleOnce sync.Once

	shut shutdown.Once

	st counters
}

const closedBit = int64(1) << 62

type item struct {
	ctx context.Context
	ev  shared.Event
}

// counters are the live Stats figures; each sits on its own cache line so
// that parallel emitters do not fight over one.
//
// The synchronous path pays for one counter only (syncDone, when its
// dispatch finishes); EventsEmitted and EventsProcessed are sums.
type counters struct {
	syncDone   paddedCounter // Emit dispatches finished
	asyncIn    paddedCounter // EmitAsync events accepted
	asyncDone  paddedCounter // async dispatches finished
	failed     paddedCounter
	listenerEr paddedCounter
	mwErrors   paddedCounter
	dropped    paddedCounter
	canceled   paddedCounter
	panics     paddedCounter
	hookPanics paddedCounter
}

type paddedCounter struct {
	atomic.Uint64
	_ [56]byte
}

// New returns an emitter configured by cfg. Zero fields take the defaults
// documented on Config. For a Config that Validate refuses, New returns an
// Emitter whose every method returns that *ConfigError (and that starts
// nothing); check cfg.Validate() first to find out at once.
func New(cfg Config) *Emitter {
	if err := cfg.Validate(); err != nil {
		return &Emitter{bad: err}
	}
	e := &Emitter{
		cfg:         cfg,
		name:        cfg.Name,
		pool:        cfg.WorkerPool,
		closing:     make(chan struct{}),
		callersDone: make(chan struct{}),
		space:       make(chan struct{}, 1),
		idle:        make(chan struct{}),
	}
	if e.name == "" {
		e.name = "emitter"
	}
	if e.pool == nil {
		e.pool = workerpool.New(0, 0)
		e.ownsPool = true
	}
	size := cfg.BufferSize
	if size <= 0 {
		size = DefaultBufferSize
	}
	e.buf = newBuffer(size, cfg.Priority)
	conc := cfg.MaxConcurrency
	if conc <= 0 {
		conc = e.pool.Workers()
	}
	if conc <= 0 {
		conc = 1
	}
	e.active.Max = int32(conc)
	e.drainFn = e.drain
	e.lm = cfg.Listeners
	if e.lm == nil {
		e.lm = listener.NewManager(listener.ManagerConfig{Name: e.name, Logger: cfg.Logger})
		e.ownsLM = true
	}
	e.table.Store(&table{exact: map[string][]*entry{}})
	e.rescue = drain.NewRescuer(e.pool)
	return e
}

// enter registers a call; it fails once Shutdown has begun.
func (e *Emitter) enter() bool {
	if e.state.Add(1)&closedBit != 0 {
		e.exit()
		return false
	}
	return true
}

func (e *Emitter) exit() {
	if e.state.Add(-1) == closedBit {
		e.callersOnce.Do(func() { close(e.callersDone) })
	}
}

func (e *Emitter) closed() bool { return e.state.Load()&closedBit != 0 }

// unusable is the error of an Emitter that New did not make (the zero
// Emitter) or made from a Config it refused; such an Emitter has no buffer.
func (e *Emitter) unusable() error {
	if e.bad != nil {
		return e.bad
	}
	return ErrNotInitialized
}

// Emit delivers ev to every matching listener in the calling goroutine and
// returns when they are done (with AsyncMode set it behaves as EmitAsync).
// After Shutdown has begun it returns ErrClosed; Shutdown does not
// wait for Emit calls already running on other goroutines, which finish on
// their callers' time.
// Every listener runs even if an earlier one fails; their errors come back
// joined, each a *shared.ListenerError naming the listener. A listener's
// panic becomes a *shared.PanicError. Before-middleware errors stop the
// dispatch and are returned. A panic in a Before or After hook is recovered
// and returned as a *shared.PanicError (an After panic after the listeners
// ran). Listeners get ctx as it is.
//
// Listeners registered with Config.Listeners each get their first attempt,
// one after another, before any of them is retried; then the retries of
// different listeners run concurrently (on goroutines Emit starts and waits
// for, on this failure path only), so one listener's backoff never delays
// another listener. Emit returns when every listener has succeeded or
// given up.
func (e *Emitter) Emit(ctx context.Context, ev shared.Event) error {
	if e.cfg.AsyncMode {
		return e.EmitAsync(ctx, ev)
	}
	t := e.table.Load()
	if t == nil {
		return e.unusable()
	}
	exact, err := validateFor(t, ev)
	if err != nil {
		e.reportEmitted(ev, err)
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if e.closed() {
		return ErrClosed
	}
	if m := e.cfg.Metrics; m != nil {
		m.EventEmitted(e.name, ev.Type(), nil)
	}
	err = e.deliver(ctx, t, ev, exact, false)
	e.st.syncDone.Add(1)
	return err
}

// EmitAsync puts ev in the async buffer and returns; a pool worker delivers
// it later, up to MaxConcurrency events at a time. When the buffer is full it
// waits until ctx is done (workerpool.Block, returning ctx.Err()) or returns
// ErrBufferFull (workerpool.RejectNew). Listeners get a context that carries ctx's
// values but not its deadline or cancellation, since the caller has moved
// on. A nil error means the event was accepted: Shutdown delivers it. A nil
// ctx means context.Background().
//
// The event stays in use until its listeners have handled it: do not modify
// it, nor Reset a pooled *shared.BaseEvent and reuse it, before then.
//
// Calling EmitAsync from inside a listener that runs on this emitter's
// drainers (an async listener emitting a follow-up event) while the buffer
// is full under workerpool.Block waits for room that only the drainers can
// make; if every drainer is doing the same, nothing moves until the callers'
// contexts end. From a listener, pass a ctx with a deadline, use
// workerpool.RejectNew, or call Emit.
func (e *Emitter) EmitAsync(ctx context.Context, ev shared.Event) error {
	if e.buf == nil {
		return e.unusable()
	}
	if err := shared.Validate(ev); err != nil {
		e.reportEmitted(ev, err)
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if !e.enter() {
		return ErrClosed
	}
	// Deferred so that a panicking hook (Metrics) cannot leave the call
	// counted inside, which would hold Shutdown forever.
	defer e.exit()
	return e.enqueue(ctx, ev)
}

func (e *Emitter) enqueue(ctx context.Context, ev shared.Event) error {
	hctx := ctx
	if ctx.Done() != nil {
		hctx = context.WithoutCancel(ctx)
	}
	it := item{ctx: hctx, ev: ev}
	lane, err := e.buf.laneOf(ev)
	if err != nil {
		e.st.hookPanics.Add(1)
		err = fmt.Errorf("emitter: Config.Priority panicked on event %q: %w", ev.ID(), err)
		e.reportEmitted(ev, err)
		return err
	}
	if !e.buf.push(lane, it) {
		if e.cfg.Overflow == workerpool.RejectNew {
			e.st.dropped.Add(1)
			if m := e.cfg.Metrics; m != nil {
				m.EventDropped(e.name, "buffer_full")
			}
			return ErrBufferFull
		}
		if err := e.waitPush(ctx, lane, it); err != nil {
			if !errors.Is(err, ErrClosed) {
				// The caller's ctx ended while it waited for room: counted
				// as the bus counts DropPublishCanceled.
				e.st.canceled.Add(1)
				if m := e.cfg.Metrics; m != nil {
					m.EventDropped(e.name, "emit_canceled")
				}
			}
			e.reportEmitted(ev, err)
			return err
		}
	}
	e.st.asyncIn.Add(1)
	if m := e.cfg.Metrics; m != nil {
		m.EventEmitted(e.name, ev.Type(), nil)
	}
	e.kick(lane)
	return nil
}

// waitPush waits for room in the buffer. A drainer that frees a slot while
// someone waits sends on space; the waiter increments waiters before its
// last Push attempt, so a slot freed after that attempt is always signalled.
func (e *Emitter) waitPush(ctx context.Context, lane int, it item) error {
	e.waiters.Add(1)
	defer e.waiters.Add(-1)
	for {
		if e.buf.push(lane, it) {
			if e.waiters.Load() > 1 && !e.buf.full(lane) {
				e.signalSpace() // pass the wake-up on to the next waiter
			}
			return nil
		}
		select {
		case <-e.space:
		case <-ctx.Done():
			return ctx.Err()
		case <-e.closing:
			return ErrClosed
		}
	}
}

func (e *Emitter) signalSpace() {
	select {
	case e.space <- struct{}{}:
	default:
	}
}

// EmitBatch validates every event first and emits none if one is invalid
// (the error names its index). It then emits them in order, synchronously
// or, with AsyncMode, into the buffer; the errors of all events come back
// joined. It stops early once ctx is done (the error then matches
// ctx.Err()) or the emitter is closed (ErrClosed); the events before
// that point were emitted. A nil ctx means context.Background().
func (e *Emitter) EmitBatch(ctx context.Context, events []shared.Event) error {
	if e.buf == nil {
		return e.unusable()
	}
	if ctx == nil {
		ctx = context.Background()
	}
	for i, ev := range events {
		if err := shared.Validate(ev); err != nil {
			return fmt.Errorf("emitter: batch event %d: %w", i, err)
		}
	}
	var errs []error
	for i, ev := range events {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("emitter: batch stopped before event %d: %w", i, err))
			break
		}
		if err := e.Emit(ctx, ev); err != nil {
			errs = append(errs, err)
			if errors.Is(err, ErrClosed) {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// deliver runs middleware and every matching listener. async says whether
// failed attempts of managed listeners are retried later (true) or by this
// call (false). A panic in a middleware hook is recovered and becomes an
// error (see before and runAfter).
func (e *Emitter) deliver(ctx context.Context, t *table, ev shared.Event, exact []*entry, async bool) error {
	for i, mw := range t.mws {
		if err := before(ctx, mw, ev); err != nil {
			e.st.mwErrors.Add(1)
			e.st.failed.Add(1)
			rerr := fmt.Errorf("emitter: middleware rejected event %q: %w", ev.ID(), err)
			// Middleware that already ran Before gets its After.
			if aerr := e.runAfter(ctx, t.mws[:i], ev, err); aerr != nil {
				return errors.Join(rerr, aerr)
			}
			return rerr
		}
	}
	var errs []error
	var later []pendingRetry // sync only: managed listeners whose first attempt failed
	typ := ev.Type()
	for _, en := range exact {
		if !en.sub.Active() {
			continue // unsubscribed after this snapshot was taken
		}
		if err := e.call(ctx, en, ev, async, &later); err != nil {
			errs = append(errs, err)
		}
	}
	for _, en := range t.patterns {
		if en.sub.Active() && shared.MatchPattern(en.topic, typ) {
			if err := e.call(ctx, en, ev, async, &later); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(later) > 0 {
		errs = e.finishRetries(ctx, ev, later, errs)
	}
	var err error
	switch len(errs) {
	case 0:
	case 1:
		err = errs[0]
	default:
		err = errors.Join(errs...)
	}
	if err != nil {
		e.st.failed.Add(1)
	}
	if len(t.mws) > 0 {
		if aerr := e.runAfter(ctx, t.mws, ev, err); aerr != nil {
			if err == nil {
				return aerr
			}
			return errors.Join(err, aerr)
		}
	}
	return err
}

// before calls mw.Before, turning a panic into a *shared.PanicError.
func before(ctx context.Context, mw shared.Middleware, ev shared.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = shared.NewPanicError(r)
		}
	}()
	return mw.Before(ctx, ev)
}

// after calls mw.After and reports whether it panicked; the panic comes
// back as a *shared.PanicError.
func after(ctx context.Context, mw shared.Middleware, ev shared.Event, outcome error) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = shared.NewPanicError(r), true
		}
	}()
	return mw.After(ctx, ev, outcome), false
}

// runAfter runs the After hooks of mws in reverse order with the outcome of
// the dispatch. Every error they return or panic with is counted in
// MiddlewareErrors; the panics also come back, joined, so that they reach
// Emit's caller or OnAsyncError instead of unwinding the dispatcher.
func (e *Emitter) runAfter(ctx context.Context, mws []shared.Middleware, ev shared.Event, outcome error) error {
	var panics []error
	for i := len(mws) - 1; i >= 0; i-- {
		aerr, panicked := after(ctx, mws[i], ev, outcome)
		if aerr == nil {
			continue
		}
		e.st.mwErrors.Add(1)
		if panicked {
			panics = append(panics, fmt.Errorf("emitter: After hook of middleware %d panicked on event %q: %w", i, ev.ID(), aerr))
		}
	}
	return errors.Join(panics...)
}

// pendingRetry is a listener whose first synchronous attempt failed with
// a verdict to retry.
type pendingRetry struct {
	en *entry
	v  listener.Verdict
}

// call makes the first attempt of one listener through its route and does
// what the verdict says: with async, a retry is scheduled (see
// scheduleRetry); without, it is appended to later, for deliver to run once
// every listener has had its first attempt. A give-up is dead-lettered and
// its error, wrapped, returned.
func (e *Emitter) call(ctx context.Context, en *entry, ev shared.Event, async bool, later *[]pendingRetry) error {
	v := en.rt.Attempt(ctx, ev, 1)
	switch {
	case v.Err == nil:
		return nil
	case !v.Retry():
		return e.giveUp(en, ev, v)
	case async:
		e.scheduleRetry(ctx, en, ev, v)
	default:
		*later = append(*later, pendingRetry{en: en, v: v})
	}
	return nil // not final: the retries decide
}

// giveUp dead-letters ev for en as the verdict v says and returns the
// listener's error.
func (e *Emitter) giveUp(en *entry, ev shared.Event, v listener.Verdict) error {
	if e.cfg.Policy != nil || en.rt.Registered() {
		// Without a Policy, a listener that is not registered has no dead
		// letters: its error goes back to the caller (or OnAsyncError).
		en.rt.DeadLetter(ev, v.GiveUp())
	}
	if v.GiveUp().Attempts <= 1 && !v.GiveUp().Exhausted {
		// One attempt, not retried: its own error says it all.
		return e.listenerFailed(en, ev, v.Err)
	}
	return e.listenerFailed(en, ev, v.GiveUp())
}

// retrySync makes the attempts that follow the verdict v on the calling
// goroutine, waiting each delay, until one succeeds or the listener is
// given up (dead-lettered). If ctx ends first it returns at once with an
// error matching ctx.Err(): the event is neither retried nor
// dead-lettered.
func (e *Emitter) retrySync(ctx context.Context, en *entry, ev shared.Event, v listener.Verdict) error {
	for v.Retry() {
		t := time.NewTimer(v.Delay())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return e.listenerFailed(en, ev, fmt.Errorf("emitter: stopped retrying event %q: %w (last error: %w)", ev.ID(), ctx.Err(), v.Err))
		}
		v = en.rt.Attempt(ctx, ev, v.Next())
	}
	if v.Err == nil {
		return nil
	}
	return e.giveUp(en, ev, v)
}

// finishRetries runs the retries of the listeners whose first synchronous
// attempt failed, the listeners' retries concurrently so that one
// listener's backoff does not delay another's, and appends their final
// errors to errs. The goroutines it starts (one per listener beyond the
// first, on this failure path only) have returned when it returns.
func (e *Emitter) finishRetries(ctx context.Context, ev shared.Event, later []pendingRetry, errs []error) []error {
	results := make([]error, len(later))
	var wg sync.WaitGroup
	for i := 1; i < len(later); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.retrySync(ctx, later[i].en, ev, later[i].v)
		}()
	}
	results[0] = e.retrySync(ctx, later[0].en, ev, later[0].v)
	wg.Wait()
	for _, err := range results {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func (e *Emitter) listenerFailed(en *entry, ev shared.Event, err error) error {
	e.st.listenerEr.Add(1)
	if errors.Is(err, shared.ErrListenerPanic) {
		e.st.panics.Add(1)
	}
	return &shared.ListenerError{ListenerID: en.listenerID, EventID: ev.ID(), EventType: ev.Type(), Err: err}
}

func (e *Emitter) reportEmitted(ev shared.Event, err error) {
	if m := e.cfg.Metrics; m != nil {
		typ := ""
		if !shared.IsNil(ev) {
			typ = ev.Type()
		}
		m.EventEmitted(e.name, typ, err)
	}
}

// validateFor does what shared.Validate does, and returns the exact
// subscriptions of ev's type in t. A type that an exact subscription names
// is not scanned again: Subscribe refused it if it had a wildcard or an
// empty token, so only types nobody subscribed to by name pay for the scan.
func validateFor(t *table, ev shared.Event) ([]*entry, error) {
	if shared.IsNil(ev) || ev.ID() == "" {
		return nil, shared.Validate(ev)
	}
	if exact, ok := t.exact[ev.Type()]; ok {
		return exact, nil
	}
	return nil, shared.Validate(ev)
}
