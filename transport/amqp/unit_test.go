package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

func TestBackoffGrowsExponentiallyWithFullJitter(t *testing.T) {
	b := amqp.ReconnectPolicy{InitialDelay: 10 * time.Millisecond, MaxDelay: time.Second, Multiplier: 2}
	for attempt, want := range map[int]time.Duration{
		0: 10 * time.Millisecond, 1: 10 * time.Millisecond, 2: 20 * time.Millisecond,
		5: 160 * time.Millisecond, 7: 640 * time.Millisecond, 8: time.Second, 1000: time.Second,
	} {
		if got := b.Ceiling(attempt); got != want {
			t.Errorf("Ceiling(%d) = %v, want %v", attempt, got, want)
		}
	}
	// Full jitter: uniform over [0, ceiling], so draws spread over the
	// whole range rather than clustering at the ceiling.
	var low, high int
	for range 2000 {
		d := b.Jittered(5)
		if d < 0 || d > 160*time.Millisecond {
			t.Fatalf("Jittered(5) = %v, outside [0, 160ms]", d)
		}
		if d < 40*time.Millisecond {
			low++
		}
		if d > 120*time.Millisecond {
			high++
		}
	}
	if low < 300 || high < 300 {
		t.Fatalf("draws not spread: %d in the bottom quarter, %d in the top quarter", low, high)
	}
}

func TestBackoffWithTheLargestMaxDoesNotOverflow(t *testing.T) {
	b := amqp.ReconnectPolicy{InitialDelay: time.Nanosecond, MaxDelay: math.MaxInt64, Multiplier: 2}
	if c := b.Ceiling(1000); c != math.MaxInt64 {
		t.Fatalf("Ceiling = %v", c)
	}
	for range 100 {
		if d := b.Jittered(1000); d < 0 {
			t.Fatalf("Jittered = %v", d)
		}
	}
}

func TestReceiptsResolveInPublishOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs := amqp.NewResolver(time.Minute)
		r1, r2, r3 := rs.Add(), rs.Add(), rs.Add()
		done := func(r *amqp.Receipt) bool {
			select {
			case <-r.Done():
				return true
			default:
				return false
			}
		}
		if !rs.Confirm(r3) || !rs.Fail(r2, amqp.ErrNacked) {
			t.Fatal("settle refused")
		}
		if done(r2) || done(r3) {
			t.Fatal("later receipts resolved before the first")
		}
		if _, err := r3.Result(); !errors.Is(err, amqp.ErrNotDone) || r3.Err() != nil {
			t.Fatalf("unresolved receipt reports %v / %v", err, r3.Err())
		}
		if !rs.Confirm(r1) {
			t.Fatal("settle refused")
		}
		for i, r := range []*amqp.Receipt{r1, r2, r3} {
			if !done(r) {
				t.Fatalf("receipt %d unresolved", i+1)
			}
		}
		if r1.Err() != nil || r3.Err() != nil || !errors.Is(r2.Err(), amqp.ErrNacked) {
			t.Fatalf("results %v %v %v", r1.Err(), r2.Err(), r3.Err())
		}
		if rs.Confirm(r2) {
			t.Fatal("a receipt was settled twice")
		}
		if !errors.Is(r2.Err(), amqp.ErrNacked) {
			t.Fatal("a second settle changed the result")
		}
	})
}

func TestReceiptsTimeOutAtTheirDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs := amqp.NewResolver(5 * time.Second)
		stop := make(chan struct{})
		go rs.Reap(stop)
		start := time.Now()
		r1 := rs.Add()
		time.Sleep(2 * time.Second)
		r2 := rs.Add()
		<-r1.Done()
		if waited := time.Since(start); waited != 5*time.Second {
			t.Fatalf("first receipt expired after %v", waited)
		}
		var pe *amqp.PublishError
		if !errors.Is(r1.Err(), amqp.ErrPublishTimeout) || !errors.As(r1.Err(), &pe) {
			t.Fatalf("got %v", r1.Err())
		}
		select {
		case <-r2.Done():
			t.Fatal("second receipt expired early")
		default:
		}
		if !rs.Confirm(r2) || r2.Err() != nil {
			t.Fatalf("confirm before the deadline: %v", r2.Err())
		}
		r3 := rs.Add()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := r3.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait: %v", err)
		}
		rs.FailAll(amqp.ErrClosed)
		if !errors.Is(r3.Err(), amqp.ErrClosed) {
			t.Fatalf("after FailAll: %v", r3.Err())
		}
		close(stop)
		synctest.Wait()
	})
}

func TestStateCallbacksRunBehindABoundedQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var got []amqp.State
		n := amqp.NewNotifier(func(sc amqp.StateChange) {
			<-release
			got = append(got, sc.To)
			if sc.To == amqp.StateReconnecting {
				panic("a panicking callback must not stop later reports")
			}
		}, 2)
		// The callback is stuck on the first change; two fit in the queue,
		// the rest are dropped, and Notify never blocks.
		for _, s := range []amqp.State{amqp.StateConnected, amqp.StateReconnecting, amqp.StateConnected, amqp.StateClosed, amqp.StateClosed} {
			n.Notify(amqp.StateChange{To: s})
			synctest.Wait()
		}
		if n.Dropped() != 2 {
			t.Fatalf("dropped %d, want 2", n.Dropped())
		}
		close(release)
		<-n.Stop()
		if fmt.Sprint(got) != "[connected reconnecting connected]" {
			t.Fatalf("callback saw %v", got)
		}
	})
}

func TestHistogramQuantiles(t *testing.T) {
	var h amqp.Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram")
	}
	h = amqp.Histogram{
		Bounds: []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond},
		Counts: []uint64{50, 45, 4, 1},
		Count:  100,
		Sum:    200 * time.Millisecond,
	}
	for q, want := range map[float64]time.Duration{0.5: time.Millisecond, 0.9: 2 * time.Millisecond, 0.99: 4 * time.Millisecond, 1: 8 * time.Millisecond} {
		if got := h.Quantile(q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if h.Mean() != 2*time.Millisecond {
		t.Errorf("Mean = %v", h.Mean())
	}
}

func TestEnumsHaveNames(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		amqp.StateConnecting: "connecting", amqp.StateConnected: "connected", amqp.StateReconnecting: "reconnecting",
		amqp.StateClosed: "closed", amqp.State(9): "State(9)",
		amqp.DecideByError: "decide-by-error", amqp.Ack: "ack", amqp.NackRequeue: "nack-requeue", amqp.Reject: "reject",
		amqp.AckDecision(9): "AckDecision(9)",
		amqp.Classic:        "classic", amqp.Quorum: "quorum", amqp.QueueType(9): "QueueType(9)",
	} {
		if got := v.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", v, got, want)
		}
	}
}

func TestDefaultErrorPolicy(t *testing.T) {
	cases := []struct {
		err  error
		want amqp.AckDecision
	}{
		{errors.New("temporary"), amqp.NackRequeue},
		{&amqp.MalformedError{Field: "body", Reason: "bad"}, amqp.Reject},
		{fmt.Errorf("wrapped: %w", amqp.ErrMalformed), amqp.Reject},
		{shared.Permanent(errors.New("no")), amqp.Reject},
	}
	for _, tc := range cases {
		if got := amqp.DefaultErrorPolicy(tc.err); got != tc.want {
			t.Errorf("DefaultErrorPolicy(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestInvalidConfigsAreRefused(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]amqp.Config{
		"negative dial timeout":       {DialTimeout: -1},
		"more min than max":           {MinConnections: 3, MaxConnections: 2},
		"backoff max below initial":   {Reconnect: amqp.ReconnectPolicy{InitialDelay: time.Second, MaxDelay: time.Millisecond}},
		"shrinking backoff":           {Reconnect: amqp.ReconnectPolicy{Multiplier: 0.5}},
		"queue without a name":        {Topology: amqp.Topology{Queues: []amqp.Queue{{}}}},
		"transient quorum queue":      {Topology: amqp.Topology{Queues: []amqp.Queue{{Name: "q", Type: amqp.Quorum, Transient: true}}}},
		"binding without an exchange": {Topology: amqp.Topology{Bindings: []amqp.Binding{{Queue: "q"}}}},
		"a million connections":       {MaxConnections: 1 << 20},
		"a huge channel pool":         {ChannelPoolSize: math.MaxInt},
		"a huge state buffer":         {StateBufferSize: math.MaxInt},
	} {
		if _, err := amqp.Dial(ctx, cfg); !errors.Is(err, amqp.ErrInvalidConfig) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
