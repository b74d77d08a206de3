package memory_test

import (
	"testing"
	"time"

	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
	"github.com/novaevents/nova/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.EventStore {
		return memory.New(memory.Config{})
	}, storetest.WithLimits(func(t *testing.T, l storetest.Limits) store.EventStore {
		return memory.New(memory.Config{MaxStreams: l.MaxStreams, MaxEventsPerStream: l.MaxEventsPerStream})
	}))
}

// The suite again on a store with every option set: the retention goroutine
// runs (with an hour of retention it trims nothing during the test) and the
// limits are far away.
func TestConformanceWithRetentionConfigured(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.EventStore {
		return memory.New(memory.Config{
			MaxEventsPerStream: 1 << 20,
			MaxStreams:         1 << 20,
			RetentionDuration:  time.Hour,
			RetentionCount:     1 << 20,
		})
	})
}

func TestNewReadsNegativeValuesAsDefaults(t *testing.T) {
	st := memory.New(memory.Config{MaxEventsPerStream: -1, MaxStreams: -5, RetentionDuration: -time.Second, RetentionCount: -3})
	defer st.Close()
	if got := st.Config(); got != (memory.Config{}) {
		t.Errorf("Config() = %+v, want the zero (default) config", got)
	}
}
