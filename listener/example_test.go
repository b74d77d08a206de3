package listener_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

func Example() {
	ctx := context.Background()
	ErrTemporary := errors.New("temporary failure")

	attempts := 0
	deadLettered := make(chan string, 1)
	handler := shared.NewBaseListener("order-processor", func(e shared.Event) error {
		attempts++
		return fmt.Errorf("payment service unavailable: %w", ErrTemporary)
	})

	lm := listener.NewManager(listener.ManagerConfig{})
	err := lm.Register(handler, listener.ListenerConfig{
		Timeout: time.Second,
		RetryPolicy: listener.RetryPolicy{
			MaxAttempts:    3,
			InitialDelay:   time.Millisecond,
			RetryCondition: func(err error) bool { return errors.Is(err, ErrTemporary) },
		},
		DeadLetter: listener.DeadLetterConfig{
			Enabled: true,
			Handler: func(e shared.Event, err error) {
				// The handler runs on its own goroutine; hand the result back.
				deadLettered <- fmt.Sprint("dead letter: ", e.ID(), " ", errors.Is(err, shared.ErrRetryLimitExceeded))
			},
		},
	})
	if err != nil {
		panic(err)
	}

	err = lm.Handle(ctx, handler, shared.NewBaseEvent("order-1", "order.created", nil))
	fmt.Println("attempts:", attempts)
	fmt.Println(err)

	_ = lm.Stop(ctx) // waits for the dead-letter handler
	fmt.Println(<-deadLettered)
	stored, _ := lm.DeadLetters(ctx, listener.DeadLetterFilter{})
	fmt.Println("stored:", len(stored), stored[0].Attempts)
	// Output:
	// attempts: 3
	// listener: "order-processor" gave up on event "order-1" after 3 attempt(s): payment service unavailable: temporary failure
	// dead letter: order-1 true
	// stored: 1 3
}

func ExampleRetryPolicy_Delay() {
	p := listener.RetryPolicy{InitialDelay: 100 * time.Millisecond, MaxDelay: time.Second, Jitter: listener.JitterNone}
	for n := 1; n <= 5; n++ {
		fmt.Print(p.Delay(n), " ")
	}
	fmt.Println()
	// Output: 100ms 200ms 400ms 800ms 1s
}
