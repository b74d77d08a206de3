// Quickstart: an emitter with a synchronous and an asynchronous listener, a
// wildcard subscription, logging middleware, and a listener whose retries
// and dead letters are handled by a listener manager.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

type Order struct {
	ID    string
	Total float64
}

var errTemporary = errors.New("temporary failure")

func main() {
	ctx := context.Background()
	pool := workerpool.New(4, 1000)
	lm := listener.NewManager(listener.ManagerConfig{})
	em := emitter.New(emitter.Config{WorkerPool: pool, Listeners: lm})

	em.Middleware(shared.MiddlewareFunc{
		AfterFunc: func(e shared.Event, err error) error {
			if err != nil {
				log.Printf("event %s failed: %v", e.ID(), err)
			}
			return nil
		},
	})
	em.Subscribe("order.created", shared.NewBaseListener("inventory", func(e shared.Event) error {
		fmt.Println("reserved stock for", e.Data().(Order).ID)
		return nil
	}))
	em.Subscribe("order.>", shared.NewBaseListener("audit", func(e shared.Event) error {
		fmt.Println("audit:", e.Type(), e.ID())
		return nil
	}))

	// The mailer fails once per order; the manager retries it.
	var calls atomic.Int32
	mailer := shared.NewBaseListener("mailer", func(e shared.Event) error {
		if calls.Add(1)%2 == 1 {
			return errTemporary
		}
		fmt.Println("sent receipt for", e.ID())
		return nil
	})
	if err := lm.Register(mailer, listener.ListenerConfig{
		RetryPolicy: listener.RetryPolicy{MaxAttempts: 3, InitialDelay: 10 * time.Millisecond,
			RetryCondition: func(err error) bool { return errors.Is(err, errTemporary) }},
		DeadLetter: listener.DeadLetterConfig{Enabled: true, Handler: func(e shared.Event, err error) {
			log.Printf("dead letter: %s: %v", e.ID(), err)
		}},
	}); err != nil {
		log.Fatal(err)
	}
	em.Subscribe("order.paid", mailer)

	o := Order{ID: "order-1", Total: 42}
	if err := em.Emit(ctx, shared.NewBaseEvent(o.ID, "order.created", o)); err != nil {
		log.Fatal(err)
	}
	if err := em.EmitAsync(ctx, shared.NewBaseEvent(o.ID+"-paid", "order.paid", o)); err != nil {
		log.Fatal(err)
	}

	// Shut down in order: the emitter (delivers what it accepted, retries
	// included), the manager, then the pool.
	if err := em.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	if err := lm.Stop(ctx); err != nil {
		log.Fatal(err)
	}
	if err := pool.Close(ctx); err != nil {
		log.Fatal(err)
	}
	st := em.Stats()
	fmt.Printf("emitted %d, processed %d, failed %d\n", st.EventsEmitted, st.EventsProcessed, st.FailedEvents)
}
