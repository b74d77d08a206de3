package amqp_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/transport/amqp"
)

// requireFaultTests skips a test that disturbs the broker for every one of
// its clients unless NOVA_FAULT_TESTS=1 asks for it.
func requireFaultTests(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("NOVA_FAULT_TESTS") != "1" {
		t.Skipf("fault test skipped: it %s; run it on a broker of your own with NOVA_FAULT_TESTS=1", what)
	}
	if testing.Short() {
		t.Skip("fault test skipped with -short")
	}
}

// restoreBrokerOnCleanup makes sure the broker runs and accepts connections
// when the test ends, however it ends.
func restoreBrokerOnCleanup(t *testing.T) {
	t.Cleanup(func() {
		rabbitmqctl(t, "start_app")
		rabbitmqctl(t, "await_startup")
		deadline := time.Now().Add(60 * time.Second)
		for {
			conn, err := amqp091.Dial(brokerURL())
			if err == nil {
				_ = conn.Close()
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("broker not accepting connections after restore: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond) // polling a restarting server
		}
	})
}

// TestFaultNoLossAcrossConnectionClosuresAndBrokerRestart publishes 10,000
// messages, each until the broker confirms it, while every connection of
// the broker is force-closed twice and the RabbitMQ application is stopped
// and started; then it checks that every confirmed message is consumed.
//
// It disturbs every client of the broker, so it runs only when asked
// to with NOVA_FAULT_TESTS=1 (as .ci/run does).
func TestFaultNoLossAcrossConnectionClosuresAndBrokerRestart(t *testing.T) {
	requireFaultTests(t, "closes every connection of the broker and restarts the RabbitMQ app")
	holdBrokerExclusively(t) // no other package's test may use the broker meanwhile
	requireRabbitmqctl(t)
	restoreBrokerOnCleanup(t)
	states := make(chan amqp.StateChange, 1024)
	f := newFixture(t,
		withQueue(func(q *amqp.Queue) { q.Type = amqp.Quorum }),
		withConfig(func(c *amqp.Config) {
			c.OnStateChange = func(sc amqp.StateChange) {
				select {
				case states <- sc:
				default:
				}
			}
		}))
	ctx := testCtx(t, 150*time.Second)

	const total = 10_000
	var (
		mu       sync.Mutex
		consumed = make(map[int]int, total)
		progress = make(chan struct{}, 1)
	)
	k := f.consumer(t, amqp.ConsumerConfig{MaxConcurrentHandlers: 8, Prefetch: 200})
	if err := k.Start(ctx, amqp.HandlerFunc(func(_ context.Context, d *amqp.Delivery) (amqp.AckDecision, error) {
		n, err := strconv.Atoi(string(d.Body))
		if err != nil {
			return amqp.Reject, err
		}
		mu.Lock()
		consumed[n]++
		mu.Unlock()
		select {
		case progress <- struct{}{}:
		default:
		}
		return amqp.Ack, nil
	})); err != nil {
		t.Fatal(err)
	}
	p := f.publisher(t, amqp.PublisherConfig{WorkerCount: 2, MaxInFlight: 200, PublishTimeout: 60 * time.Second})

	// Faults are injected at fixed points of the publishing progress, from
	// a goroutine of their own so that publishing goes on meanwhile.
	confirmedCount := make(chan int, total)
	quit, faultsDone := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(quit); <-faultsDone }) // before the broker is restored
	go func() {
		defer close(faultsDone)
		ctl := func(args ...string) {
			if _, err := runRabbitmqctl(args...); err != nil {
				t.Error(err)
			}
		}
		step := 0
		for {
			var n int
			select {
			case c, ok := <-confirmedCount:
				if !ok {
					return
				}
				n = c
			case <-quit:
				return
			}
			switch {
			case step == 0 && n >= 1500:
				step++
				ctl("close_all_connections", "--global", "nova fault test: closing every connection")
			case step == 1 && n >= 4000:
				step++
				began := time.Now()
				ctl("stop_app")
				// Publishes go on while the app is down: they must wait.
				ctl("start_app")
				ctl("await_startup")
				t.Logf("broker app stopped and restarted in %v", time.Since(began).Round(time.Millisecond))
			case step == 2 && n >= 7000:
				step++
				ctl("close_all_connections", "--global", "nova fault test: closing every connection again")
			}
		}
	}()

	var confirmed, failures int
	type pending struct {
		n int
		r *amqp.Receipt
	}
	window := make(chan pending, total)
	publishErr := make(chan error, 1)
	go func() {
		defer close(window)
		// Paced at about 2,000 messages a second so that publishing spans
		// the faults (the CLI takes a second or so to act).
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for n := range total {
			if n%10 == 0 {
				<-tick.C
			}
			r, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "fault", Body: []byte(strconv.Itoa(n)), MessageID: strconv.Itoa(n)})
			if err != nil {
				publishErr <- fmt.Errorf("message %d: %w", n, err)
				return
			}
			window <- pending{n, r}
		}
	}()
	for pend := range window {
		// A receipt that failed is published again until one is confirmed:
		// "confirmed" is the only promise the test relies on.
		for err := pend.r.Wait(ctx); err != nil; err = pend.r.Wait(ctx) {
			if ctx.Err() != nil {
				t.Fatalf("message %d: %v", pend.n, err)
			}
			failures++
			t.Logf("message %d not confirmed (%v); publishing it again", pend.n, err)
			r, perr := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "fault", Body: []byte(strconv.Itoa(pend.n))})
			if perr != nil {
				t.Fatal(perr)
			}
			pend.r = r
		}
		confirmed++
		confirmedCount <- confirmed
	}
	close(confirmedCount)
	select {
	case err := <-publishErr:
		t.Fatal(err)
	default:
	}
	<-faultsDone // every fault has happened
	if confirmed != total {
		t.Fatalf("confirmed %d of %d", confirmed, total)
	}

	// Every confirmed message is consumed at least once.
	for {
		mu.Lock()
		missing := total - len(consumed)
		mu.Unlock()
		if missing == 0 {
			break
		}
		select {
		case <-progress:
		case <-ctx.Done():
			t.Fatalf("%d confirmed messages never consumed", missing)
		}
	}
	duplicates := 0
	mu.Lock()
	for _, c := range consumed {
		duplicates += c - 1
	}
	mu.Unlock()

	reconnects := 0
	for len(states) > 0 {
		if sc := <-states; sc.To == amqp.StateReconnecting && sc.From == amqp.StateConnected {
			reconnects++
		}
	}
	ps, cs := p.Stats(), k.Stats()
	t.Logf("publisher: sent %d, confirmed %d, resent after loss %d, nacked %d, failed %d (republished by the test: %d)",
		ps.Sent, ps.Confirmed, ps.Resent, ps.Nacked, ps.Failed, failures)
	t.Logf("consumer: received %d, acked %d, sessions %d; duplicates %d; connection losses seen %d",
		cs.Received, cs.Acked, cs.Sessions, duplicates, reconnects)
	if reconnects < 3 || ps.Resent == 0 {
		t.Fatalf("the faults did not hit publishing as planned: %d connection losses, %d publishes resent", reconnects, ps.Resent)
	}
	// With a 60s PublishTimeout, publishes made during the outages waited
	// for the broker instead of failing.
	if failures != 0 || ps.Failed != 0 {
		t.Fatalf("%d publishes failed during the faults", failures)
	}
}
