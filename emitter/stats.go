package emitter

// Stats is a snapshot of an emitter's counters.
type Stats struct {
	// EventsEmitted counts events accepted: by EmitAsync when they enter the
	// buffer, by Emit when their dispatch has finished.
	EventsEmitted uint64
	// EventsProcessed counts events whose dispatch to all their listeners has
	// finished, with or without errors.
	EventsProcessed uint64
	// FailedEvents counts events for which a listener or a Before middleware failed.
	FailedEvents uint64
	// ListenerErrors counts failing listener calls (an event can fail in several listeners).
	ListenerErrors uint64
	// Panics counts listener panics (included in ListenerErrors).
	Panics uint64
	// MiddlewareErrors counts errors returned by Before and After hooks,
	// and their panics, which are recovered.
	MiddlewareErrors uint64
	// HookPanics counts panics recovered from the emitter's other callbacks:
	// Config.Priority (EmitAsync then returns the panic as an error),
	// Config.OnAsyncError, and anything else that panics while a drainer
	// delivers an event (a Metrics hook, for instance; that event then
	// counts as failed). In Emit such panics reach the caller.
	HookPanics uint64
	// DroppedEvents counts EmitAsync calls refused with ErrBufferFull.
	DroppedEvents uint64
	// CanceledEvents counts EmitAsync calls that gave up waiting for room in
	// a full buffer (workerpool.Block) because their ctx ended; each is also
	// reported to Metrics as EventDropped "emit_canceled".
	CanceledEvents uint64
	// AsyncEvents counts events accepted by the async path.
	AsyncEvents uint64
	// AsyncProcessed counts async events whose dispatch has finished.
	AsyncProcessed uint64
	// QueuedEvents is the number of async events waiting for a handler.
	QueuedEvents int64
	// ActiveDrainers is the number of pool tasks delivering async events.
	ActiveDrainers int
	// ActiveListeners is the number of active subscriptions.
	ActiveListeners int
	// Closed reports whether Shutdown has begun.
	Closed bool
}

// Stats returns a snapshot of the counters. It is cheap and lock-free; the
// figures are read one by one, so they may be a moment apart.
func (e *Emitter) Stats() Stats {
	if e.buf == nil {
		return Stats{} // see unusable
	}
	q := int64(e.buf.len())
	sync, in, done := e.st.syncDone.Load(), e.st.asyncIn.Load(), e.st.asyncDone.Load()
	return Stats{
		EventsEmitted:    sync + in,
		EventsProcessed:  sync + done,
		FailedEvents:     e.st.failed.Load(),
		ListenerErrors:   e.st.listenerEr.Load(),
		Panics:           e.st.panics.Load(),
		MiddlewareErrors: e.st.mwErrors.Load(),
		HookPanics:       e.st.hookPanics.Load(),
		DroppedEvents:    e.st.dropped.Load(),
		CanceledEvents:   e.st.canceled.Load(),
		AsyncEvents:      in,
		AsyncProcessed:   done,
		QueuedEvents:     q,
		ActiveDrainers:   int(e.active.Taken()),
		ActiveListeners:  e.table.Load().count,
		Closed:           e.closed(),
	}
}
