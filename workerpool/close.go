package workerpool

import "context"

// Close stops the pool: later submits return ErrClosed, submits waiting
// for room return ErrClosed, every task already queued still runs, and
// Close returns once they and the running tasks are done and the workers
// have exited. If ctx ends first it returns ctx.Err(); the workers go on
// with the queue in the background and a later Close waits again. Close is
// idempotent and safe to call concurrently with submits.
//
// Called from inside a task of this pool, Close does not wait for that task
// (it could not finish): the calling worker runs queued tasks itself until the
// queue is empty, then waits for the other workers.
func (p *Pool) Close(ctx context.Context) error {
	if err := p.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		for len(p.idle) > 0 {
			p.stopLocked(p.popIdleLocked())
		}
		if p.nwaiting > 0 {
			p.recheckWaitersLocked() // they will find the pool closed
		}
		if p.reaper != nil {
			p.reaper.Stop()
			p.reaperArmed = false
		}
	}
	return p.waitQuietLocked(ctx, func() bool { return p.queued == 0 && p.procs == p.inWait })
}

// Drain waits until no task is queued or running, or returns ctx.Err() when
// ctx ends first. The pool keeps accepting tasks meanwhile, so under a
// steady stream Drain may only return through ctx. Called from inside a task
// of this pool, it does not wait for that task: the calling worker runs
// queued tasks itself until the queue is empty, then waits for the others.
func (p *Pool) Drain(ctx context.Context) error {
	if err := p.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	return p.waitQuietLocked(ctx, func() bool { return p.queued == 0 && p.running == p.inWait })
}

// waitQuietLocked waits until done() holds, unlocking p.mu. A worker waiting
// here counts in p.inWait and helps with the queue.
func (p *Pool) waitQuietLocked(ctx context.Context, done func() bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var self *worker
	if len(p.byGID) > 0 {
		p.mu.Unlock()
		gid := goid()
		p.mu.Lock()
		if self = p.byGID[gid]; self != nil {
			p.inWait++
			defer func() {
				p.mu.Lock()
				p.inWait--
				p.mu.Unlock()
			}()
		}
	}
	for {
		if done() {
			p.mu.Unlock()
			return nil
		}
		if self != nil && p.queued > 0 {
			e, _ := p.takeLocked()
			p.mu.Unlock()
			self.inTasks++
			panicked := p.execute(&e)
			self.inTasks--
			p.mu.Lock()
			p.finishLocked(panicked)
			continue
		}
		if p.quiet == nil {
			p.quiet = make(chan struct{})
		}
		quiet := p.quiet
		p.mu.Unlock()
		select {
		case <-quiet:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
	}
}
