package listener

import (
	"context"
	"sync/atomic"

	"github.com/novaevents/nova/shared"
)

// Binding is a dispatcher's handle on the registration of one listener ID:
// the emitter and the bus take one per subscription, so that delivering an
// event does not look the listener up again. It follows Register and
// Unregister (it notices that the registry changed and looks again), so a
// Binding taken before the listener was registered applies its policies
// once it is. It is safe for concurrent use.
type Binding struct {
	m     *Manager
	id    string
	state atomic.Pointer[bindState]
}

type bindState struct {
	regs  *registry // the registry snapshot r was found in
	r     *reg      // nil: not registered in that snapshot
	plain bool      // r has no limit, breaker or timeout, and no metrics: see Handle
}

// Bind returns a Binding for listener ID id.
func (m *Manager) Bind(id string) *Binding {
	m.init()
	return &Binding{m: m, id: id}
}

// lookup returns the registration in force (nil if none) and whether it is
// plain.
func (b *Binding) lookup() (*reg, bool) {
	cur := b.m.regs.Load()
	if st := b.state.Load(); st != nil && st.regs == cur {
		return st.r, st.plain
	}
	r := cur.get(b.id)
	plain := r != nil && r.sem == nil && r.breaker == nil && r.cfg.Timeout <= 0 && b.m.metrics == nil
	b.state.Store(&bindState{regs: cur, r: r, plain: plain})
	return r, plain
}

func (b *Binding) reg() *reg {
	r, _ := b.lookup()
	return r
}

// Registered reports whether the bound ID is registered now.
func (b *Binding) Registered() bool { return b.reg() != nil }

// Handle runs Manager.Handle for l, which must have the bound ID, if that ID
// is registered, and reports whether it was; an unregistered listener is
// left to the caller. Unlike the Manager's methods it does not validate e: a dispatcher checks
// each event once, with shared.Validate, before it reaches any listener. A
// nil e is still refused.
func (b *Binding) Handle(ctx context.Context, l shared.Listener, e shared.Event) (bool, error) {
	r, plain := b.lookup()
	if r == nil {
		return false, nil
	}
	if e == nil {
		return true, shared.Validate(e)
	}
	return true, b.m.handle(ctx, r, plain, l, e)
}

// Attempt runs Manager.Attempt for l, which must have the bound ID, if that
// ID is registered, and reports whether it was; like Handle it leaves
// validating e to the dispatcher.
func (b *Binding) Attempt(ctx context.Context, l shared.Listener, e shared.Event) (bool, error) {
	r, plain := b.lookup()
	if r == nil {
		return false, nil
	}
	if e == nil {
		return true, shared.Validate(e)
	}
	if plain {
		return true, b.m.attemptPlain(ctx, r, l, e, false)
	}
	return true, b.m.attempt(ctx, r, l, e, nil)
}
