package bus_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
)

// A drainer that found nothing to take still holds its slot until it gives
// it back; a message arriving in that moment finds MaxConcurrency drainers
// running and starts none. The drainer must look again after giving its
// slot back, or the message waits for the next publish (forever, if there
// is none). The hook publishes in exactly that moment.
func TestAMessageArrivingAsTheDrainerLeavesIsNotStranded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		var once sync.Once
		publishErr := make(chan error, 1)
		bus.SetDrainIdleHook(b, func() {
			once.Do(func() {
				publishErr <- b.Publish(context.Background(), "t", shared.NewBaseEvent("late", "x", nil))
			})
		})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1})
		r := &recorder{id: "r"}
		mustSubscribe(t, b, "t", r) // its drainer's first look finds nothing: the hook publishes
		if err := <-publishErr; err != nil {
			t.Fatalf("Publish from the hook: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v: the event published as the drainer left was stranded", err)
		}
		if got := r.handled(); !slices.Equal(got, []string{"late"}) {
			t.Fatalf("handled %v, want [late]", got)
		}
	})
}
