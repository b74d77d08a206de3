package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
)

func Example() {
	ctx := context.Background()
	st := memory.New(memory.Config{
		MaxEventsPerStream: 10000,
		MaxStreams:         1000,
		RetentionDuration:  time.Hour,
	})
	defer st.Close()

	_ = st.Append(ctx, "order-1",
		shared.NewBaseEvent("e-1", "order.created", "two books"),
		shared.NewBaseEvent("e-2", "order.paid", 42))
	_ = st.Append(ctx, "order-2", shared.NewBaseEvent("e-3", "order.created", "a pen"))

	recs, _ := st.Read(ctx, "order-1", store.FromStart, 10)
	for _, r := range recs {
		fmt.Println(r.StreamID, r.Version, r.Position, r.Type(), r.Data())
	}

	// Optimistic concurrency: order-1 is at version 2, not 1.
	err := st.AppendExpected(ctx, "order-1", 1, shared.NewBaseEvent("e-4", "order.cancelled", nil))
	fmt.Println(errors.Is(err, store.ErrConcurrencyConflict))
	// Output:
	// order-1 1 1 order.created two books
	// order-1 2 2 order.paid 42
	// true
}

func ExampleStore_Subscribe() {
	ctx := context.Background()
	st := memory.New(memory.Config{})
	defer st.Close()
	_ = st.Append(ctx, "a", shared.NewBaseEvent("e-1", "thing.happened", nil))

	sub, _ := st.Subscribe(ctx, store.AllStreams, store.FromStart)
	defer sub.Close()
	go func() { _ = st.Append(ctx, "b", shared.NewBaseEvent("e-2", "thing.happened", nil)) }()

	for range 2 { // the history, then the live append
		r, _ := sub.Next(ctx)
		fmt.Println(r.Position, r.StreamID, r.ID())
	}
	// Output:
	// 1 a e-1
	// 2 b e-2
}
