package otel

import (
	"context"

	"github.com/novaevents/nova/shared"
)

// Middleware returns emitter middleware (Emitter.Middleware) that writes
// the span of the Emit or EmitAsync call's ctx into the event's metadata
// before the listeners run, for callers that trace their own work and emit
// on an unwrapped emitter: listeners wrapped with Listener then continue
// that trace. It makes no span of its own.
func (t *Tracer) Middleware() shared.Middleware { return propagate{t} }

type propagate struct{ t *Tracer }

func (p propagate) Before(ctx context.Context, e shared.Event) error {
	if ctx != nil {
		p.t.Inject(ctx, e)
	}
	return nil
}

func (propagate) After(context.Context, shared.Event, error) error { return nil }
