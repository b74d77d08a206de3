package bus_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

var errFlaky = errors.New("flaky")

// deadLetterLog collects what a topic's dead-letter handler received.
type deadLetterLog struct {
	mu   sync.Mutex
	ids  []string
	errs []error
}

func (d *deadLetterLog) config() listener.DeadLetterConfig {
	return listener.DeadLetterConfig{Enabled: true, Handler: func(e shared.Event, err error) {
		d.mu.Lock()
		d.ids = append(d.ids, e.ID())
		d.errs = append(d.errs, err)
		d.mu.Unlock()
	}}
}

func (d *deadLetterLog) snapshot() ([]string, []error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ids), slices.Clone(d.errs)
}

func TestAtLeastOnceRedeliversAFailingHandlerUntilItSucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "pay", bus.TopicConfig{
			Partitions: 1,
			RetryPolicy: listener.RetryPolicy{
				MaxAttempts: 5, InitialDelay: 100 * time.Millisecond, Jitter: listener.JitterNone,
			},
		})
		var mu sync.Mutex
		var at []time.Time
		r := &recorder{id: "pay", fn: func(shared.Event) error {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, time.Now())
			if len(at) < 5 {
				return errFlaky
			}
			return nil
		}}
		mustSubscribe(t, b, "pay", r)
		mustPublish(t, b, "pay", shared.NewBaseEvent("p1", "payment", nil))
		shutdown(t, b)

		if got := r.handled(); !slices.Equal(got, []string{"p1"}) {
			t.Fatalf("handled %v, want [p1] once", got)
		}
		if len(at) != 5 {
			t.Fatalf("attempts = %d, want 5", len(at))
		}
		// Exponential backoff without jitter: 100ms, 200ms, 400ms, 800ms.
		for i, want := range []time.Duration{100, 200, 400, 800} {
			if gap := at[i+1].Sub(at[i]); gap != want*time.Millisecond {
				t.Errorf("wait before attempt %d = %v, want %v", i+2, gap, want*time.Millisecond)
			}
		}
		s := b.Stats()
		if s.Failed != 4 || s.Retried != 4 || s.Processed != 1 || s.DeadLettered != 0 {
			t.Errorf("failed/retried/processed/dead = %d/%d/%d/%d, want 4/4/1/0", s.Failed, s.Retried, s.Processed, s.DeadLettered)
		}
	})
}

func TestAtLeastOnceCountsPanicsAndTimeoutsAsFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{
			HandlerTimeout: 50 * time.Millisecond,
			RetryPolicy:    listener.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond},
		})
		var calls int
		l := shared.NewListener("l", func(ctx context.Context, e shared.Event) error {
			calls++
			switch calls {
			case 1:
				panic("first attempt panics")
			case 2:
				<-ctx.Done() // second attempt overruns its timeout
				return ctx.Err()
			}
			return nil
		})
		mustSubscribe(t, b, "t", l)
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		shutdown(t, b)
		if calls != 3 {
			t.Fatalf("calls = %d, want 3", calls)
		}
		if s := b.Stats(); s.Failed != 2 || s.Processed != 1 {
			t.Fatalf("failed/processed = %d/%d, want 2/1", s.Failed, s.Processed)
		}
	})
}

// A handler that ignores its context and returns nil after the
// HandlerTimeout has done its work: the attempt is a success, in every
// mode, and is not run again (for ExactlyOnce, that would handle the ID
// twice).
func TestALateSuccessIsASuccess(t *testing.T) {
	for _, mode := range []bus.DeliveryMode{bus.AtMostOnce, bus.AtLeastOnce, bus.ExactlyOnce} {
		t.Run(mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var dl deadLetterLog
				b := bus.New(bus.Config{})
				mustCreate(t, b, "t", bus.TopicConfig{
					DeliveryMode: mode, HandlerTimeout: 50 * time.Millisecond, DeadLetter: dl.config(),
					RetryPolicy: listener.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond},
				})
				r := &recorder{id: "slow", fn: func(shared.Event) error {
					time.Sleep(200 * time.Millisecond) // past the deadline, ignoring ctx
					return nil
				}}
				mustSubscribe(t, b, "t", r)
				mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
				shutdown(t, b)
				if got := r.handled(); !slices.Equal(got, []string{"1"}) {
					t.Errorf("handled %v, want [1] once", got)
				}
				if ids, _ := dl.snapshot(); len(ids) != 0 {
					t.Errorf("dead letters %v, want none", ids)
				}
				if s := b.Stats(); s.Processed != 1 || s.Failed != 0 || s.Retried != 0 {
					t.Errorf("processed/failed/retried = %d/%d/%d, want 1/0/0", s.Processed, s.Failed, s.Retried)
				}
			})
		})
	}
}

func TestExhaustedRetriesAreDeadLettered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dl deadLetterLog
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{
			RetryPolicy: listener.RetryPolicy{MaxAttempts: 3},
			DeadLetter:  dl.config(),
		})
		calls := 0
		mustSubscribe(t, b, "t", &recorder{id: "always-fails", fn: func(shared.Event) error { calls++; return errFlaky }})
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		shutdown(t, b)

		ids, errs := dl.snapshot()
		if calls != 3 || !slices.Equal(ids, []string{"1"}) {
			t.Fatalf("calls = %d, dead letters = %v; want 3 and [1]", calls, ids)
		}
		var dle *bus.DeadLetterError
		if !errors.As(errs[0], &dle) || dle.Attempts != 3 || dle.ListenerID != "always-fails" || dle.Topic != "t" {
			t.Fatalf("dead-letter error = %#v", errs[0])
		}
		if !errors.Is(errs[0], bus.ErrRetryLimitExceeded) || !errors.Is(errs[0], errFlaky) {
			t.Fatalf("dead-letter error %v should match ErrRetryLimitExceeded and the handler's error", errs[0])
		}
		if s := b.Stats(); s.DeadLettered != 1 || s.Retried != 2 {
			t.Fatalf("dead/retried = %d/%d, want 1/2", s.DeadLettered, s.Retried)
		}
	})
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dl deadLetterLog
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{DeadLetter: dl.config()})
		calls := 0
		mustSubscribe(t, b, "t", &recorder{id: "l", fn: func(shared.Event) error {
			calls++
			return shared.Permanent(errFlaky)
		}})
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		shutdown(t, b)
		_, errs := dl.snapshot()
		if calls != 1 || len(errs) != 1 {
			t.Fatalf("calls = %d, dead letters = %d; want 1 and 1", calls, len(errs))
		}
		if errors.Is(errs[0], bus.ErrRetryLimitExceeded) || !shared.IsPermanent(errs[0]) {
			t.Fatalf("dead-letter error = %v, want the permanent error", errs[0])
		}
	})
}

func TestAtMostOnceMakesOneAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dl deadLetterLog
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{DeliveryMode: bus.AtMostOnce, DeadLetter: dl.config()})
		calls := 0
		mustSubscribe(t, b, "t", &recorder{id: "l", fn: func(shared.Event) error { calls++; return errFlaky }})
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		shutdown(t, b)
		if ids, _ := dl.snapshot(); calls != 1 || len(ids) != 1 {
			t.Fatalf("calls = %d, dead letters = %d; want 1 and 1", calls, len(ids))
		}
		if s := b.Stats(); s.Retried != 0 || s.Failed != 1 {
			t.Fatalf("retried/failed = %d/%d, want 0/1", s.Retried, s.Failed)
		}
	})
}

func TestExactlyOnceHandlesADuplicateIDOnce(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "pay", bus.TopicConfig{DeliveryMode: bus.ExactlyOnce, Partitions: 4})
	a, c := &recorder{id: "a"}, &recorder{id: "c"}
	mustSubscribe(t, b, "pay", a)
	mustSubscribe(t, b, "pay", c)
	g1, g2 := &recorder{id: "g1"}, &recorder{id: "g2"}
	for _, g := range []*recorder{g1, g2} {
		if _, err := b.SubscribeGroup("pay", "workers", g); err != nil {
			t.Fatal(err)
		}
	}
	// The same ID three times, as separate event values, with different
	// keys so the copies even land in different partitions.
	for i := range 3 {
		mustPublish(t, b, "pay", keyed("pay-1", evID(i)))
	}
	mustPublish(t, b, "pay", keyed("pay-2", "k"))
	shutdown(t, b)
	for _, r := range []*recorder{a, c} {
		got := r.handled()
		slices.Sort(got)
		if !slices.Equal(got, []string{"pay-1", "pay-2"}) {
			t.Errorf("subscriber %s handled %v, want pay-1 and pay-2 once each", r.id, got)
		}
	}
	group := append(g1.handled(), g2.handled()...)
	slices.Sort(group)
	if !slices.Equal(group, []string{"pay-1", "pay-2"}) {
		t.Errorf("group handled %v, want pay-1 and pay-2 once each", group)
	}
	if got := b.Stats().DuplicatesSuppressed; got != 6 {
		t.Errorf("duplicates suppressed = %d, want 2 per subscriber (6)", got)
	}
}

func TestExactlyOnceHandlesAnIDAgainAfterItWasDeadLettered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{DeliveryMode: bus.ExactlyOnce, RetryPolicy: listener.RetryPolicy{MaxAttempts: 1}})
		fail := true
		r := &recorder{id: "r", fn: func(shared.Event) error {
			if fail {
				return errFlaky
			}
			return nil
		}}
		mustSubscribe(t, b, "t", r)
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		synctest.Wait()
		fail = false
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		shutdown(t, b)
		if got := r.handled(); !slices.Equal(got, []string{"1"}) {
			t.Fatalf("handled %v, want [1] once", got)
		}
		if s := b.Stats(); s.DeadLettered != 1 || s.DuplicatesSuppressed != 1 {
			t.Fatalf("dead/duplicates = %d/%d, want 1/1", s.DeadLettered, s.DuplicatesSuppressed)
		}
	})
}

func TestRetentionExpiresEventsThatWaitedTooLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dl deadLetterLog
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1, Retention: time.Second, DeadLetter: dl.config()})
		r := &recorder{id: "slow", fn: func(e shared.Event) error {
			if e.ID() == "first" {
				time.Sleep(2 * time.Second) // the second event waits behind it
			}
			return nil
		}}
		mustSubscribe(t, b, "t", r)
		mustPublish(t, b, "t", shared.NewBaseEvent("first", "x", nil))
		mustPublish(t, b, "t", shared.NewBaseEvent("second", "x", nil))
		shutdown(t, b)
		if got := r.handled(); !slices.Equal(got, []string{"first"}) {
			t.Fatalf("handled %v, want only the first", got)
		}
		ids, errs := dl.snapshot()
		if !slices.Equal(ids, []string{"second"}) || !errors.Is(errs[0], bus.ErrExpired) {
			t.Fatalf("dead letters %v %v, want [second] with ErrExpired", ids, errs)
		}
		if s := b.Stats(); s.Expired != 1 || s.DeadLettered != 1 {
			t.Fatalf("expired/dead = %d/%d, want 1/1", s.Expired, s.DeadLettered)
		}
	})
}

func TestDeadLetterHandlerPanicDoesNotStopTheBus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		calls := 0
		mustCreate(t, b, "t", bus.TopicConfig{DeliveryMode: bus.AtMostOnce, DeadLetter: listener.DeadLetterConfig{
			Enabled: true, Handler: func(shared.Event, error) { calls++; panic("handler bug") },
		}})
		mustSubscribe(t, b, "t", &recorder{id: "l", fn: func(shared.Event) error { return errFlaky }})
		mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
		mustPublish(t, b, "t", shared.NewBaseEvent("2", "x", nil))
		shutdown(t, b)
		if calls != 2 {
			t.Fatalf("dead-letter handler calls = %d, want 2", calls)
		}
	})
}

func TestDeadLetterQueueOverflowIsCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		b := bus.New(bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1, DeliveryMode: bus.AtMostOnce, DeadLetter: listener.DeadLetterConfig{
			Enabled: true, QueueSize: 2, Handler: func(shared.Event, error) { <-release },
		}})
		mustSubscribe(t, b, "t", &recorder{id: "l", fn: func(shared.Event) error { return errFlaky }})
		mustPublish(t, b, "t", shared.NewBaseEvent("0", "x", nil))
		synctest.Wait() // its dead-letter call is running and blocked
		for i := range 4 {
			mustPublish(t, b, "t", shared.NewBaseEvent(evID(i), "x", nil))
		}
		synctest.Wait()
		// One call running, two queued, two not handed to the handler:
		// all five are in the dead-letter store.
		if got := b.Listeners().Stats().DeadLetterHandlerOverflow; got != 2 {
			t.Errorf("handler overflow = %d, want 2", got)
		}
		if got := b.Listeners().Stats().DeadLettersStored; got != 5 {
			t.Errorf("stored = %d, want 5", got)
		}
		close(release)
		shutdown(t, b)
		if got := b.Stats().DeadLettered; got != 5 {
			t.Errorf("dead-lettered = %d, want 5", got)
		}
	})
}
