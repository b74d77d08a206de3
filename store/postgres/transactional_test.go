package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store/postgres"
	"github.com/novaevents/nova/store/postgres/effecttest"
)

func newEffects(tb testing.TB, schema string) *effecttest.Table {
	tb.Helper()
	fx, err := effecttest.Create(context.Background(), testPool(tb), schema)
	if err != nil {
		tb.Fatal(err)
	}
	return fx
}

func wantEffects(tb testing.TB, fx *effecttest.Table, events int64) {
	tb.Helper()
	n, err := fx.Count(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if n.Rows != events || n.Events != events {
		rep, _ := fx.Repeated(context.Background(), 5)
		tb.Errorf("effects: %d rows for %d events, want %d of each (repeated: %q)", n.Rows, n.Events, events, rep)
	}
}

// effectListener writes an effect and then does what then says.
func effectListener(fx *effecttest.Table, calls *atomic.Int64, then func(e shared.Event) error) shared.Listener {
	return shared.NewListener("effects", func(ctx context.Context, e shared.Event) error {
		calls.Add(1)
		if err := fx.Write(ctx, e); err != nil {
			return err
		}
		if then != nil {
			return then(e)
		}
		return nil
	})
}

func transactional(tb testing.TB, s *postgres.IdempotencyStore, scope string, l shared.Listener) shared.Listener {
	tb.Helper()
	tl, err := s.Transactional(scope, l)
	if err != nil {
		tb.Fatal(err)
	}
	return tl
}

func event(id string) shared.Event { return shared.NewBaseEvent(id, "order.paid", nil) }

func TestTransactionalWritesEffectsOnce(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	s := newIdem(t, schema, postgres.IdempotencyConfig{})
	fx := newEffects(t, schema)
	var calls atomic.Int64
	l := transactional(t, s, "billing", effectListener(fx, &calls, nil))
	if l.ID() != "effects" {
		t.Errorf("ID() = %q, want the wrapped listener's", l.ID())
	}
	for range 3 {
		if err := l.Handle(ctx, event("e1")); err != nil {
			t.Fatal(err)
		}
	}
	wantEffects(t, fx, 1)
	if calls.Load() != 1 {
		t.Errorf("listener called %d times, want 1", calls.Load())
	}
	if got := s.Stats(); got.Committed != 1 || got.Skipped != 2 {
		t.Errorf("Stats() = %+v", got)
	}
	// Another scope is another consumer: its effects are its own.
	if err := transactional(t, s, "audit", effectListener(fx, &calls, nil)).Handle(ctx, event("e1")); err != nil {
		t.Fatal(err)
	}
	if n, _ := fx.Count(ctx); n.Rows != 2 {
		t.Errorf("%d rows after a second scope, want 2", n.Rows)
	}
}

func TestTransactionalRollsBackFailedAttempts(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	s := newIdem(t, schema, postgres.IdempotencyConfig{})
	fx := newEffects(t, schema)
	var calls atomic.Int64
	errBoom := errors.New("boom")
	mode := "fail"
	l := transactional(t, s, "billing", effectListener(fx, &calls, func(shared.Event) error {
		switch mode {
		case "fail":
			return errBoom
		case "panic":
			panic("handler panics after writing its effect")
		}
		return nil
	}))

	if err := l.Handle(ctx, event("e1")); !errors.Is(err, errBoom) {
		t.Fatalf("Handle = %v, want the listener's error", err)
	}
	wantEffects(t, fx, 0)

	mode = "panic"
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the listener's panic did not go on")
			}
		}()
		_ = l.Handle(ctx, event("e1"))
	}()
	wantEffects(t, fx, 0)

	mode = "ok"
	if err := l.Handle(ctx, event("e1")); err != nil {
		t.Fatal(err)
	}
	wantEffects(t, fx, 1)
	if err := l.Handle(ctx, event("e1")); err != nil {
		t.Fatal(err)
	}
	wantEffects(t, fx, 1)
	if calls.Load() != 3 {
		t.Errorf("listener called %d times, want 3 (fail, panic, succeed)", calls.Load())
	}
	if stat := testPool(t).Stat(); stat.AcquiredConns() != 0 {
		t.Errorf("%d connections still acquired", stat.AcquiredConns())
	}
}

func TestTransactionalConcurrentCopiesSerialise(t *testing.T) {
	const (
		stores  = 3
		workers = 3
		events  = 30
	)
	schema := newSchema(t)
	fx := newEffects(t, schema)
	var calls atomic.Int64
	var wg sync.WaitGroup
	for range stores {
		l := transactional(t, newIdem(t, schema, postgres.IdempotencyConfig{}), "billing", effectListener(fx, &calls, nil))
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range events {
					if err := l.Handle(context.Background(), event(fmt.Sprint("e", i))); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	wantEffects(t, fx, events)
	// A copy that finds the record locked waits for the first copy's commit
	// and skips: the listener itself ran once per event.
	if calls.Load() != events {
		t.Errorf("listener called %d times, want %d", calls.Load(), events)
	}
}

// A claim that expires while its handler still runs is taken over; the
// second handler then waits for the first one's transaction and skips.
func TestTransactionalClaimExpiresWhileHandlerRuns(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	cfg := postgres.IdempotencyConfig{ClaimTTL: time.Minute}
	a := newIdem(t, schema, cfg)
	b := newIdem(t, schema, cfg)
	fx := newEffects(t, schema)
	var callsA, callsB atomic.Int64
	inside, release := make(chan struct{}), make(chan struct{})
	la := transactional(t, a, "billing", effectListener(fx, &callsA, func(shared.Event) error {
		close(inside)
		<-release
		return nil
	}))
	lb := transactional(t, b, "billing", effectListener(fx, &callsB, nil))

	mustClaim(t, a, "bus-scope", "e1", true)
	errA := make(chan error, 1)
	go func() { errA <- la.Handle(ctx, event("e1")) }()
	<-inside // a's effect is written, not committed

	postgres.AdvanceClock(b, 2*time.Minute)
	mustClaim(t, b, "bus-scope", "e1", true) // a's claim expired
	errB := make(chan error, 1)
	go func() { errB <- lb.Handle(ctx, event("e1")) }()
	close(release)
	if err := <-errA; err != nil {
		t.Fatal(err)
	}
	if err := <-errB; err != nil {
		t.Fatal(err)
	}
	for _, s := range []*postgres.IdempotencyStore{a, b} {
		if err := s.Complete(ctx, "bus-scope", "e1"); err != nil {
			t.Fatal(err)
		}
	}
	wantEffects(t, fx, 1)
	if callsB.Load() != 0 || b.Stats().Skipped != 1 {
		t.Errorf("the second handler ran %d times (stats %+v), want skipped", callsB.Load(), b.Stats())
	}
}

func TestTransactionalRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	s := newIdem(t, schema, postgres.IdempotencyConfig{})
	fx := newEffects(t, schema)
	var calls atomic.Int64
	ok := effectListener(fx, &calls, nil)

	if _, err := s.Transactional("", ok); !errors.Is(err, postgres.ErrInvalidArgument) {
		t.Errorf("empty scope: %v, want ErrInvalidArgument", err)
	}
	if _, err := s.Transactional("billing", nil); !errors.Is(err, shared.ErrNilListener) {
		t.Errorf("nil listener: %v, want shared.ErrNilListener", err)
	}
	l := transactional(t, s, "billing", ok)
	if err := l.Handle(ctx, nil); !errors.Is(err, postgres.ErrInvalidArgument) {
		t.Errorf("nil event: %v, want ErrInvalidArgument", err)
	}
	if err := l.Handle(ctx, event("")); !errors.Is(err, postgres.ErrInvalidArgument) {
		t.Errorf("empty event ID: %v, want ErrInvalidArgument", err)
	}
	if _, ok := postgres.TxFrom(ctx); ok {
		t.Error("TxFrom found a transaction in a plain context")
	}
	var noTx atomic.Int64
	if err := effectListener(fx, &noTx, nil).Handle(ctx, event("e1")); !errors.Is(err, effecttest.ErrNoTx) {
		t.Errorf("Write outside Transactional: %v, want ErrNoTx", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Handle(ctx, event("e1")); !errors.Is(err, postgres.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	wantEffects(t, fx, 0)
	if calls.Load() != 0 {
		t.Errorf("listener called %d times", calls.Load())
	}
}

// Two buses stand for two processes of one consumer group: each has its
// own broker (as after a redelivery, every event reaches both), the same
// database, and handlers that fail now and then after writing their effect.
func TestTransactionalThroughTheBus(t *testing.T) {
	const events = 200
	schema := newSchema(t)
	fx := newEffects(t, schema)
	var calls atomic.Int64
	var failed sync.Map
	handler := effectListener(fx, &calls, func(e shared.Event) error {
		// Every seventh event fails its first attempt, after its write.
		var n int
		if _, err := fmt.Sscanf(e.ID(), "e%d", &n); err == nil && n%7 == 0 {
			if _, seen := failed.LoadOrStore(e.ID(), true); !seen {
				return errors.New("transient")
			}
		}
		return nil
	})
	type proc struct {
		b   *bus.Bus
		ids *postgres.IdempotencyStore
	}
	var procs []proc
	for range 2 {
		ids := newIdem(t, schema, postgres.IdempotencyConfig{})
		b := bus.New(bus.Config{})
		err := b.CreateTopic("orders", bus.TopicConfig{
			Partitions: 4, MaxConcurrency: 4,
			DeliveryMode:     bus.ExactlyOnce,
			IdempotencyStore: ids,
			RetryPolicy:      listener.RetryPolicy{MaxAttempts: 5, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.SubscribeGroup("orders", "billing", transactional(t, ids, "orders/billing", handler)); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, proc{b, ids})
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range events {
				e := event(fmt.Sprint("e", i))
				for range 2 { // and a duplicate publish
					if err := p.b.Publish(context.Background(), "orders", e); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, p := range procs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := p.b.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	wantEffects(t, fx, events)
	var st postgres.IdempotencyStats
	var dead uint64
	for _, p := range procs {
		s := p.ids.Stats()
		st.Claimed += s.Claimed
		st.Refused += s.Refused
		st.Committed += s.Committed
		st.Skipped += s.Skipped
		dead += p.b.Stats().DeadLettered
	}
	if dead != 0 {
		t.Errorf("%d events dead-lettered", dead)
	}
	if st.Committed != events || st.Claimed+st.Refused != 4*events {
		t.Errorf("stats %+v: want %d committed and %d claims", st, events, 4*events)
	}
	t.Logf("4 copies of %d events: %+v, listener calls %d", events, st, calls.Load())
}
