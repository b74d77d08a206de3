package listener_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

func TestSlowDeadLetterHandlerBlocksNothingAndLosesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var handled atomic.Int64
		l := &scripted{id: "l"}
		m := newManager(t, l, listener.ListenerConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 1},
			DeadLetter: listener.DeadLetterConfig{Enabled: true, QueueSize: 10, Handler: func(shared.Event, error) {
				<-gate
				handled.Add(1)
			}},
		})
		const n = 500
		l.push(repeat(errBoom, n)...)
		start := time.Now()
		for i := range n {
			// Handle gives up after one attempt and dead-letters: with the
			// handler stuck, each call must still return at once.
			if err := m.Handle(context.Background(), l, event(fmt.Sprint("e", i))); !errors.Is(err, errBoom) {
				t.Fatalf("Handle = %v", err)
			}
			if i == 0 {
				// Let the dead-letter goroutine take the first one into
				// the stuck handler, so the figures below are exact.
				synctest.Wait()
			}
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("500 Handle calls took %v of fake time, want 0: something waited", took)
		}
		synctest.Wait()
		st := m.Stats()
		if st.DeadLettersInStore != n || st.DeadLettersStored != n {
			t.Errorf("store holds %d (stored %d), want %d", st.DeadLettersInStore, st.DeadLettersStored, n)
		}
		// One is in the handler, QueueSize wait, the rest overflowed.
		if want := uint64(n - 1 - 10); st.DeadLetterHandlerOverflow != want {
			t.Errorf("DeadLetterHandlerOverflow = %d, want %d", st.DeadLetterHandlerOverflow, want)
		}
		list, _ := m.DeadLetters(context.Background(), listener.DeadLetterFilter{ListenerID: "l"})
		seen := map[string]bool{}
		for _, d := range list {
			seen[d.Event.ID()] = true
		}
		for i := range n {
			if !seen[fmt.Sprint("e", i)] {
				t.Fatalf("dead letter e%d is missing from the store", i)
			}
		}
		close(gate)
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if h := handled.Load(); h != 11 {
			t.Errorf("handler ran %d times, want 11 (1 + QueueSize)", h)
		}
	})
}

func TestDeadLetterStoreIsBoundedAndCountsEvictions(t *testing.T) {
	l := &scripted{id: "l"}
	m := listener.NewManager(listener.ManagerConfig{DeadLetterCapacity: 3})
	defer m.Stop(context.Background())
	if err := m.Register(l, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true}}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		giveUp(m, l, event(fmt.Sprint("e", i)), errBoom)
	}
	list, _ := m.DeadLetters(context.Background(), listener.DeadLetterFilter{})
	var ids []string
	for _, d := range list {
		ids = append(ids, d.Event.ID())
	}
	if fmt.Sprint(ids) != "[e2 e3 e4]" {
		t.Errorf("store holds %v, want the 3 newest", ids)
	}
	if st := m.Stats(); st.DeadLettersEvicted != 2 || st.DeadLettersStored != 5 {
		t.Errorf("Evicted=%d Stored=%d, want 2 and 5", st.DeadLettersEvicted, st.DeadLettersStored)
	}
}

func TestDeadLettersCanBeListedInspectedAndRedriven(t *testing.T) {
	ctx := context.Background()
	a, b := &scripted{id: "a"}, &scripted{id: "b"}
	m := newManager(t, a, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true}})
	if err := m.Register(b, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true}}); err != nil {
		t.Fatal(err)
	}
	giveUp(m, a, event("a1"), &listener.RetryError{ListenerID: "a", Attempts: 3, Err: errBoom})
	giveUp(m, b, shared.NewBaseEvent("b1", "other.type", nil), errBoom)
	giveUp(m, a, event("a2"), errBoom)

	list, err := m.DeadLetters(ctx, listener.DeadLetterFilter{ListenerID: "a"})
	if err != nil || len(list) != 2 || list[0].Event.ID() != "a1" || list[1].Event.ID() != "a2" {
		t.Fatalf("listing a's dead letters = %+v, %v", list, err)
	}
	if byType, _ := m.DeadLetters(ctx, listener.DeadLetterFilter{EventType: "other.type"}); len(byType) != 1 {
		t.Errorf("by type: %d, want 1", len(byType))
	}
	if limited, _ := m.DeadLetters(ctx, listener.DeadLetterFilter{Limit: 2}); len(limited) != 2 {
		t.Errorf("limit 2: %d", len(limited))
	}
	d, err := m.InspectDeadLetter(ctx, list[0].ID)
	if err != nil || d.Attempts != 3 || !errors.Is(d.Err, errBoom) || d.ListenerID != "a" || d.Error == "" || d.At.IsZero() {
		t.Errorf("Inspect = %+v, %v", d, err)
	}

	t.Run("a failed publish keeps the dead letter", func(t *testing.T) {
		errDown := errors.New("bus down")
		err := m.Redrive(ctx, list[0].ID, func(context.Context, shared.Event) error { return errDown })
		if !errors.Is(err, errDown) {
			t.Fatalf("Redrive = %v, want errDown", err)
		}
		if _, err := m.InspectDeadLetter(ctx, list[0].ID); err != nil {
			t.Errorf("after a failed redrive: %v", err)
		}
	})
	t.Run("a redriven dead letter is published and removed", func(t *testing.T) {
		var published []string
		pub := func(_ context.Context, e shared.Event) error { published = append(published, e.ID()); return nil }
		if err := m.Redrive(ctx, list[0].ID, pub); err != nil {
			t.Fatal(err)
		}
		if _, err := m.InspectDeadLetter(ctx, list[0].ID); !errors.Is(err, listener.ErrDeadLetterNotFound) {
			t.Errorf("after redrive Inspect = %v, want ErrDeadLetterNotFound", err)
		}
		n, err := m.RedriveAll(ctx, listener.DeadLetterFilter{ListenerID: "a"}, pub)
		if err != nil || n != 1 {
			t.Errorf("RedriveAll = %d, %v, want 1", n, err)
		}
		if fmt.Sprint(published) != "[a1 a2]" {
			t.Errorf("published %v", published)
		}
		if st := m.Stats(); st.DeadLettersRedriven != 2 || st.DeadLettersInStore != 1 {
			t.Errorf("Redriven=%d InStore=%d, want 2 and 1", st.DeadLettersRedriven, st.DeadLettersInStore)
		}
	})
	t.Run("concurrent redrives of one dead letter publish it once", func(t *testing.T) {
		left, _ := m.DeadLetters(ctx, listener.DeadLetterFilter{})
		var published atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_ = m.Redrive(ctx, left[0].ID, func(context.Context, shared.Event) error { published.Add(1); return nil })
			})
		}
		wg.Wait()
		if published.Load() != 1 {
			t.Errorf("published %d times, want 1", published.Load())
		}
	})
	t.Run("unknown IDs and nil publishers are refused", func(t *testing.T) {
		if err := m.Redrive(ctx, "dl-404", func(context.Context, shared.Event) error { return nil }); !errors.Is(err, listener.ErrDeadLetterNotFound) {
			t.Errorf("Redrive unknown = %v", err)
		}
		if err := m.Redrive(ctx, "dl-1", nil); !errors.Is(err, listener.ErrInvalidConfig) {
			t.Errorf("Redrive nil publish = %v", err)
		}
		if err := m.RemoveDeadLetter(ctx, "dl-404"); !errors.Is(err, listener.ErrDeadLetterNotFound) {
			t.Errorf("Remove unknown = %v", err)
		}
	})
}

func TestDisabledDeadLettersAreCountedNotStored(t *testing.T) {
	l := &scripted{id: "l"}
	m := newManager(t, l, listener.ListenerConfig{})
	giveUp(m, l, event("e"), errBoom)
	st := m.Stats()
	if st.DeadLettersInStore != 0 || st.Listeners[0].DeadLettersDiscarded != 1 {
		t.Errorf("InStore=%d Discarded=%d, want 0 and 1", st.DeadLettersInStore, st.Listeners[0].DeadLettersDiscarded)
	}
}

func TestDeadLetterHandlerPanicsAreRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scripted{id: "l"}
		var calls atomic.Int64
		m := newManager(t, l, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true, Handler: func(shared.Event, error) {
			calls.Add(1)
			panic("handler bug")
		}}})
		giveUp(m, l, event("a"), errBoom)
		giveUp(m, l, event("b"), errBoom)
		synctest.Wait()
		if calls.Load() != 2 || m.Stats().DeadLetterHandlerPanics != 2 {
			t.Errorf("calls=%d panics=%d, want 2 and 2", calls.Load(), m.Stats().DeadLetterHandlerPanics)
		}
	})
}

func TestDeadLetterOfAnUnregisteredListenerIsStored(t *testing.T) {
	m := newManager(t, nil, listener.ListenerConfig{})
	giveUp(m, &scripted{id: "ghost"}, event("e"), errBoom)
	giveUp(m, nil, nil, nil) // must not panic
	list, _ := m.DeadLetters(context.Background(), listener.DeadLetterFilter{ListenerID: "ghost"})
	if len(list) != 1 {
		t.Errorf("stored %d, want 1", len(list))
	}
}

// A Handler would never be called without Enabled: Register says so rather
// than silently dropping it.
func TestDeadLetterHandlerWithoutEnabledIsRefused(t *testing.T) {
	m := newManager(t, nil, listener.ListenerConfig{})
	l := &scripted{id: "l"}
	err := m.Register(l, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Handler: func(shared.Event, error) {}}})
	var ce *listener.ConfigError
	if !errors.Is(err, listener.ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != "DeadLetter.Handler" {
		t.Fatalf("Register = %v, want a *ConfigError for DeadLetter.Handler", err)
	}
	if _, ok := listener.ConfigOf(m, "l"); ok {
		t.Error("the refused listener was registered")
	}
	if err := m.Register(l, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true, Handler: func(shared.Event, error) {}}}); err != nil {
		t.Errorf("Register with Enabled = %v", err)
	}
}

// busLikeError stands for another dispatcher's dead-letter error (the bus's
// *DeadLetterError): not a *RetryError, but it knows its attempts.
type busLikeError struct {
	attempts int
	err      error
}

func (e *busLikeError) Error() string     { return "gave up: " + e.err.Error() }
func (e *busLikeError) Unwrap() error     { return e.err }
func (e *busLikeError) AttemptCount() int { return e.attempts }

var _ listener.AttemptCounter = (*listener.RetryError)(nil)

func TestDeadLetterAttemptsComeFromAnyAttemptCounter(t *testing.T) {
	l := &scripted{id: "l"}
	m := newManager(t, l, listener.ListenerConfig{DeadLetter: listener.DeadLetterConfig{Enabled: true}})
	giveUp(m, l, event("foreign"), &busLikeError{attempts: 4, err: errBoom})
	giveUp(m, l, event("wrapped"), fmt.Errorf("topic t: %w", &busLikeError{attempts: 2, err: errBoom}))
	giveUp(m, l, event("retry"), &listener.RetryError{ListenerID: "l", EventID: "retry", Attempts: 3, Err: errBoom})
	giveUp(m, l, event("plain"), errBoom)
	list, err := m.DeadLetters(context.Background(), listener.DeadLetterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"foreign": 4, "wrapped": 2, "retry": 3, "plain": 0}
	if len(list) != len(want) {
		t.Fatalf("%d dead letters, want %d", len(list), len(want))
	}
	for _, d := range list {
		if id := d.Event.ID(); d.Attempts != want[id] {
			t.Errorf("dead letter %s: Attempts = %d, want %d", id, d.Attempts, want[id])
		}
	}
}
