package emitter

import (
	"log/slog"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// Defaults used for zero Config fields.
const (
	// DefaultBufferSize is the async buffer's capacity when BufferSize is 0.
	DefaultBufferSize = 1024
	// MaxBufferSize is the largest BufferSize New accepts: the buffer is
	// allocated when the emitter is made (once per priority lane).
	MaxBufferSize = 1 << 22
	// drainBatch is how many async events one drainer task handles before it
	// hands its pool worker back, so a busy emitter cannot monopolise a
	// shared pool.
	drainBatch = 256
)

// Overflow says what EmitAsync does when the async buffer is full. It is
// workerpool.Overflow, the one overflow vocabulary of Nova's packages. The
// emitter takes workerpool.Block (the default: wait for room until the
// caller's ctx is done) and workerpool.RejectNew (return ErrBufferFull at
// once and count the event as dropped); New refuses the others with a
// *ConfigError (bound a wait with the ctx given to EmitAsync).
type Overflow = workerpool.Overflow

// The overflow policies' names before Nova had one vocabulary.
var (
	// Deprecated: use workerpool.Block.
	OverflowBlock = workerpool.Block
	// Deprecated: use workerpool.RejectNew.
	OverflowReject = workerpool.RejectNew
)

// Config configures an Emitter. The zero value works: synchronous Emit, an
// async buffer of DefaultBufferSize events on a pool the emitter owns.
type Config struct {
	// WorkerPool runs async handlers. Nil: the emitter creates a pool of
	// workerpool.DefaultWorkers() workers and closes it on Shutdown. A pool
	// passed in is shared, not owned: close it after the emitter's Shutdown.
	WorkerPool *workerpool.Pool
	// BufferSize bounds the events EmitAsync has accepted but no handler has
	// taken yet. 0 means DefaultBufferSize; at most MaxBufferSize.
	BufferSize int
	// AsyncMode makes Emit and EmitBatch behave like EmitAsync.
	AsyncMode bool
	// MaxConcurrency bounds how many async events are handled at once.
	// 0 means the pool's worker count.
	MaxConcurrency int
	// Overflow is the policy for a full async buffer. Default workerpool.Block.
	Overflow Overflow
	// Priority, if set, sorts async events into priority lanes (for
	// example by event type), each a buffer of BufferSize events. Drainers
	// take the critical lane first and the others 8:4:1 (high, normal, low),
	// so a flood of low-priority events cannot hold back an urgent one, and
	// an event at the head of the low lane waits at most 12 takes. The
	// drainer tasks go into the pool lane of the event that woke them.
	// It is called once per EmitAsync; if it panics, EmitAsync returns the
	// panic as an error (a *shared.PanicError) and the event is not
	// accepted. Default nil: one FIFO buffer.
	Priority func(shared.Event) workerpool.Priority
	// OnAsyncError receives the joined listener errors of an async event.
	// It runs on the handling goroutine: keep it quick. A panic in it is
	// recovered and counted in Stats.HookPanics. Default: the error is
	// counted in Stats and logged at debug level if Logger is set.
	OnAsyncError func(shared.Event, error)
	// Listeners runs every attempt (see listener.Route): the policies
	// registered there (retries with backoff, circuit breaker, timeout,
	// concurrency limit, dead letters) apply to the listeners registered
	// there, Policy to the others. Emit makes the first attempt on every
	// listener, then waits out the retries of those that failed, different
	// listeners' side by side, and returns their final errors. EmitAsync
	// makes one attempt per drainer and waits out the delay on the
	// emitter's delay queue, so no pool worker waits out a backoff;
	// Shutdown waits for those retries. Stop the manager after the
	// emitter's Shutdown. Default: a manager of the emitter's own, with
	// nothing registered, stopped by Shutdown.
	Listeners *listener.Manager
	// Policy governs the listeners not registered with Listeners, as a
	// bus topic's policies do: retries, dead letters (kept in the
	// manager's store) and a Timeout for every attempt. Default nil: such
	// a listener is called once and its error returned, nothing
	// dead-lettered.
	Policy *listener.Policy
	// Name identifies the emitter to Metrics. Default "emitter".
	Name string
	// Metrics receives counts and timings. Default: none, at no cost.
	Metrics shared.Metrics
	// Logger, if set, logs async failures at debug level.
	Logger *slog.Logger
}

// Validate reports the first setting of c that New cannot make sense of,
// as a *ConfigError: a negative BufferSize or MaxConcurrency, a BufferSize
// above MaxBufferSize, an Overflow other than workerpool.Block and
// workerpool.RejectNew. An Emitter made from such a Config returns that
// error from every method.
func (c Config) Validate() error {
	bad := func(field, reason string) error { return shared.NewConfigError("emitter", field, reason) }
	switch {
	case c.BufferSize < 0:
		return bad("BufferSize", "negative")
	case c.BufferSize > MaxBufferSize:
		return bad("BufferSize", shared.Range(int64(c.BufferSize), 0, MaxBufferSize))
	case c.MaxConcurrency < 0:
		return bad("MaxConcurrency", "negative")
	case c.Overflow != workerpool.Block && c.Overflow != workerpool.RejectNew:
		return bad("Overflow", c.Overflow.String()+": the emitter takes workerpool.Block or workerpool.RejectNew (bound a wait with EmitAsync's ctx)")
	}
	return nil
}
