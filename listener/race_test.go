package listener_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/novaevents/nova/listener"
)

// Stop, Start, Register, Unregister, Attempt, Handle, Retry and DeadLetter
// racing each other must neither panic, nor deadlock, nor leak (goleak).
func TestLifecycleRacesAreSafe(t *testing.T) {
	m := listener.NewManager(listener.ManagerConfig{})
	var wg sync.WaitGroup
	ctx := context.Background()
	for w := range 4 {
		wg.Go(func() {
			l := &scripted{id: fmt.Sprint("l", w)}
			for i := range 200 {
				switch i % 7 {
				case 0:
					_ = m.Register(l, listener.ListenerConfig{
						RetryPolicy: listener.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Microsecond},
						Circuit:     listener.CircuitConfig{Enabled: true, FailureThreshold: 3, CoolDown: time.Millisecond},
						DeadLetter:  listener.DeadLetterConfig{Enabled: true, QueueSize: 4},
					})
				case 1:
					l.push(errBoom)
					_ = attempt(m, ctx, l, event("a"))
				case 2:
					l.push(errBoom, errBoom)
					_ = m.Handle(ctx, l, event("h"))
				case 3:
				case 4:
					giveUp(m, l, event("d"), errBoom)
				case 5:
					_ = m.Unregister(l.id)
				case 6:
					if w == 0 {
						sctx, cancel := context.WithTimeout(ctx, time.Millisecond)
						_ = m.Stop(sctx)
						cancel()
						_ = m.Start()
					}
					_ = m.Health()
					_ = m.Stats()
				}
			}
		})
	}
	wg.Wait()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
