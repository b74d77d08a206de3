// Eventstore: append to streams with optimistic concurrency, read a stream
// back, and follow every stream with a subscription that catches up from
// history and then continues live.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := memory.New(memory.Config{MaxEventsPerStream: 10000, MaxStreams: 1000, RetentionDuration: time.Hour})
	defer st.Close()

	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	must(st.Append(ctx, "order-1", shared.NewBaseEvent("e1", "order.created", nil), shared.NewBaseEvent("e2", "order.paid", nil)))

	// A writer that read version 2 may append; one holding a stale version may not.
	must(st.AppendExpected(ctx, "order-1", 2, shared.NewBaseEvent("e3", "order.shipped", nil)))
	err := st.AppendExpected(ctx, "order-1", 2, shared.NewBaseEvent("e4", "order.cancelled", nil))
	var conflict *store.ConcurrencyError
	if !errors.As(err, &conflict) {
		log.Fatalf("a stale write was not refused with a conflict: %v", err)
	}
	fmt.Println("stale write refused: expected version", conflict.Expected, "but the stream is at", conflict.Actual)

	recs, err := st.Read(ctx, "order-1", store.FromStart, 0)
	must(err)
	for _, r := range recs {
		fmt.Printf("v%d pos %d %s\n", r.Version, r.Position, r.Type())
	}

	sub, err := st.Subscribe(ctx, store.AllStreams, store.FromStart)
	must(err)
	defer sub.Close()
	must(st.Append(ctx, "order-2", shared.NewBaseEvent("e5", "order.created", nil)))
	for range 4 { // three from history, one live
		r, err := sub.Next(ctx)
		must(err)
		fmt.Println("subscription:", r.StreamID, r.Version, r.Type())
	}
}
