package emitter_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/shared"
)

func Example() {
	ctx := context.Background()
	em := emitter.New(emitter.Config{})
	defer em.Shutdown(ctx)

	em.Subscribe("order.created", shared.NewBaseListener("inventory", func(e shared.Event) error {
		fmt.Println("reserve stock for", e.ID())
		return nil
	}))
	em.Subscribe("order.>", shared.NewBaseListener("audit", func(e shared.Event) error {
		fmt.Println("audit", e.Type(), e.ID())
		return nil
	}))

	_ = em.Emit(ctx, shared.NewBaseEvent("order-1", "order.created", nil))
	_ = em.Emit(ctx, shared.NewBaseEvent("order-1", "order.item.added", nil))
	// Output:
	// reserve stock for order-1
	// audit order.created order-1
	// audit order.item.added order-1
}

func ExampleEmitter_Emit_errors() {
	ctx := context.Background()
	em := emitter.New(emitter.Config{})
	defer em.Shutdown(ctx)

	declined := errors.New("card declined")
	em.Subscribe("order.created", shared.NewBaseListener("payment", func(shared.Event) error { return declined }))
	em.Subscribe("order.created", shared.NewBaseListener("inventory", func(shared.Event) error { return nil }))

	err := em.Emit(ctx, shared.NewBaseEvent("order-2", "order.created", nil))
	var le *shared.ListenerError
	fmt.Println(errors.Is(err, declined), errors.As(err, &le) && le.ListenerID == "payment")
	fmt.Println(errors.Is(em.Emit(ctx, nil), emitter.ErrInvalidEvent))
	// Output:
	// true true
	// true
}
