package listener

import (
	"context"

	"github.com/novaevents/nova/shared"
)

// HandleFirst is Handle cut in two, for a dispatcher that delivers one event
// to several listeners on the caller's goroutine (the emitter's Emit) and
// must not let one listener's backoff hold back the next listener. It makes
// the first attempt now, under l's policies, and reports whether the bound
// ID is registered (an unregistered listener is left to the caller, as with
// Handle).
//
// When that attempt succeeds, or e is nil (refused as Handle refuses it),
// rest is nil and err is the outcome. When it fails, err is the attempt's
// error and rest makes the remaining attempts, with their backoff waits,
// then dead-letters the event if it gives up: it returns what Handle would
// have returned. The caller must call rest exactly once, on any goroutine;
// until it returns, Stop counts the event as being handled. Calling the
// rests of several listeners concurrently is what they are for.
//
// Like the Binding's other methods it leaves validating e to the caller.
func (b *Binding) HandleFirst(ctx context.Context, l shared.Listener, e shared.Event) (managed bool, rest func() error, err error) {
	r, plain := b.lookup()
	if r == nil {
		return false, nil, nil
	}
	if e == nil {
		return true, nil, shared.Validate(e)
	}
	m := b.m
	if plain {
		// Handle's one-frame success path (see Binding.Handle); a failure
		// is booked as failedFirst books it, and its retries handed back.
		r.started.Add(1)
		if err = shared.SafeHandle(ctx, l, e); err == nil {
			if r.consecutive.Load() != 0 {
				r.consecutive.Store(0)
			}
			r.finished.Add(1)
			if m.stopping.Load() {
				m.signal()
			}
			return true, nil, nil
		}
		m.bookFailedFirst(r, err)
		first := err
		return true, func() error { return m.retryInline(ctx, r, l, e, first) }, err
	}
	// What Manager.handle does, with its retry loop handed back instead of
	// run: the caller is counted in m.handling from the failed attempt on,
	// and retryInline stops counting it.
	var held bool
	if err = m.attempt(ctx, r, l, e, &held); err == nil {
		return true, nil, nil
	}
	if !held {
		m.handling.Add(1)
	}
	first := err
	return true, func() error { return m.retryInline(ctx, r, l, e, first) }, err
}
