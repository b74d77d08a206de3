package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
)

// everyStoreMethod calls every method of st; each must return want (Stats
// zero), none may panic or block.
func everyStoreMethod(t *testing.T, st *memory.Store, want error) {
	t.Helper()
	ctx := context.Background()
	ev := shared.NewBaseEvent("e1", "order.created", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		errs := map[string]error{
			"Append":         st.Append(ctx, "s", ev),
			"AppendExpected": st.AppendExpected(ctx, "s", store.NoStream, ev),
			"Replay":         st.Replay(ctx, time.Time{}, time.Time{}, func(store.Record) error { return nil }),
			"Close":          st.Close(),
		}
		_, errs["Read"] = st.Read(ctx, "s", store.FromStart, 0)
		_, errs["ReadAll"] = st.ReadAll(ctx, store.FromStart, 0)
		_, errs["ReadTimeRange"] = st.ReadTimeRange(ctx, time.Time{}, time.Time{}, 0)
		_, errs["GetStreams"] = st.GetStreams(ctx)
		_, errs["GetStreamInfo"] = st.GetStreamInfo(ctx, "s")
		_, errs["TrimBefore"] = st.TrimBefore(ctx, time.Now())
		_, errs["TrimStream"] = st.TrimStream(ctx, "s", 1)
		_, errs["Subscribe"] = st.Subscribe(ctx, "s", store.FromStart)
		for name, err := range errs {
			if !errors.Is(err, want) {
				t.Errorf("%s = %v, want %v", name, err, want)
			}
		}
		if s := st.Stats(); s != (store.Stats{}) {
			t.Errorf("Stats = %+v, want zero", s)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a method did not return")
	}
}

func TestTheZeroStoreSaysItIsNotInitialized(t *testing.T) {
	everyStoreMethod(t, &memory.Store{}, memory.ErrNotInitialized)
}

func TestNegativeConfigIsAConfigError(t *testing.T) {
	for field, cfg := range map[string]memory.Config{
		"Config.MaxEventsPerStream": {MaxEventsPerStream: -1},
		"Config.MaxStreams":         {MaxStreams: -1},
		"Config.RetentionDuration":  {RetentionDuration: -time.Second},
		"Config.RetentionCount":     {RetentionCount: -1},
	} {
		var ce *memory.ConfigError
		if err := cfg.Validate(); !errors.As(err, &ce) || ce.Field != field || !errors.Is(err, memory.ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v", field, err)
			continue
		}
		everyStoreMethod(t, memory.New(cfg), memory.ErrInvalidConfig)
	}
}
