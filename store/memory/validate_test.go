package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/store/memory"
)

// Append skips the type scan for the type a stream's last append had. That
// must never let a bad type through: not alone, not in a batch behind the
// known type, not on a closed store (the validation error comes first, as
// from every store), and never with a half-written batch.
func TestAppendStillRefusesBadTypesAfterAGoodOne(t *testing.T) {
	ctx := context.Background()
	st := memory.New(memory.Config{})
	ev := func(id, typ string) shared.Event { return shared.NewBaseEvent(id, typ, nil) }
	if err := st.Append(ctx, "s", ev("1", "order.created")); err != nil {
		t.Fatal(err)
	}
	for name, batch := range map[string][]shared.Event{
		"a wildcard type":                   {ev("2", "order.*")},
		"an empty token":                    {ev("2", "order..created")},
		"a bad type behind the known one":   {ev("2", "order.created"), ev("3", "order.>")},
		"a bad type before the known one":   {ev("2", "order.created."), ev("3", "order.created")},
		"a valid type, then an empty token": {ev("2", "order.paid"), ev("3", ".order")},
	} {
		err := st.Append(ctx, "s", batch...)
		if !errors.Is(err, shared.ErrInvalidEvent) {
			t.Errorf("%s: Append = %v, want ErrInvalidEvent", name, err)
		}
	}
	recs, err := st.Read(ctx, "s", store.FromStart, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("the stream holds %d records (%v), want only the first", len(recs), err)
	}
	if err := st.Append(ctx, "s", ev("2", "order.created"), ev("3", "order.paid")); err != nil {
		t.Fatalf("a good batch after refused ones: %v", err)
	}
	_ = st.Close()
	if err := st.Append(ctx, "s", ev("4", "order.*")); !errors.Is(err, shared.ErrInvalidEvent) {
		t.Errorf("closed store: Append of a bad type = %v, want ErrInvalidEvent", err)
	}
	if err := st.Append(ctx, "s", ev("4", "order.paid")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("closed store: Append = %v, want ErrClosed", err)
	}
}
