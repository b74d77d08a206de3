// Package shutdown is Nova's idempotent Shutdown(ctx): the first call
// begins the shutdown and every call, concurrent or later, waits for the
// same outcome until its own ctx ends (then it returns ctx.Err(), and the
// shutdown goes on in the background; a later call waits again).
//
//	type Thing struct{ shut shutdown.Once }
//
//	func (t *Thing) Shutdown(ctx context.Context) error {
//		return t.shut.Do(ctx, t.stopAccepting, t.drain)
//	}
//
// Once starts one goroutine, on the first Do, that runs finish and ends
// when it returns.
package shutdown
