package amqp_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/novaevents/nova/transport/amqp"
)

// rabbitmqctl runs the broker's CLI (as root, on the broker's host) and
// fails the test if it fails. Call it from the test's goroutine.
func rabbitmqctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := runRabbitmqctl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runRabbitmqctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("rabbitmqctl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// requireRabbitmqctl skips tests that drive the broker through its CLI when
// the CLI is not available here.
func requireRabbitmqctl(t testing.TB) {
	t.Helper()
	requireBroker(t)
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		if os.Getenv("NOVA_REQUIRE_SERVICES") == "1" {
			t.Fatalf("rabbitmqctl not found: %v", err)
		}
		t.Skipf("rabbitmqctl not found (%v): this test closes connections through it", err)
	}
}

// closeConnections makes the broker close every connection whose name
// starts with prefix, as a network failure or an operator would.
func closeConnections(t testing.TB, prefix string) int {
	t.Helper()
	n := 0
	// The name a client gives its connection is among its client
	// properties; the test's names are unique, so finding it is enough.
	for _, line := range strings.Split(rabbitmqctl(t, "list_connections", "--quiet", "--no-table-headers", "pid", "client_properties"), "\n") {
		pid, props, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok || !strings.Contains(props, prefix) {
			continue
		}
		rabbitmqctl(t, "close_connection", pid, "nova test: simulated connection loss")
		n++
	}
	if n == 0 {
		t.Fatalf("no broker connection named %s*", prefix)
	}
	return n
}

// awaitState waits for a change to state want on the given channel.
func awaitState(t testing.TB, states <-chan amqp.StateChange, want amqp.State) amqp.StateChange {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case sc := <-states:
			if sc.To == want && sc.From != want {
				return sc
			}
		case <-timeout:
			t.Fatalf("no change to %v within 30s", want)
		}
	}
}

func TestReconnectRedeclaresTopologyAndResumesConsuming(t *testing.T) {
	requireRabbitmqctl(t)
	states := make(chan amqp.StateChange, 64)
	f := newFixture(t, withConfig(func(c *amqp.Config) {
		c.MaxConnections = 1
		c.OnStateChange = func(sc amqp.StateChange) { states <- sc }
	}))
	awaitState(t, states, amqp.StateConnected)
	ctx := testCtx(t, 60*time.Second)
	got := make(chan string, 4)
	k := f.consumer(t, amqp.ConsumerConfig{})
	if err := k.Start(ctx, amqp.HandlerFunc(func(_ context.Context, d *amqp.Delivery) (amqp.AckDecision, error) {
		got <- string(d.Body)
		return amqp.Ack, nil
	})); err != nil {
		t.Fatal(err)
	}
	p := f.publisher(t, amqp.PublisherConfig{Mandatory: true})
	if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	if body := <-got; body != "before" {
		t.Fatalf("got %q", body)
	}

	// The exchange (and with it the binding) disappears, then the
	// connection drops: after reconnecting, both must be back.
	if err := rawChannel(t).ExchangeDelete(f.exchange, false, false); err != nil {
		t.Fatal(err)
	}
	closeConnections(t, f.name+"#")
	lost := awaitState(t, states, amqp.StateReconnecting)
	if lost.Err == nil {
		t.Error("the loss was reported without its cause")
	}
	awaitState(t, states, amqp.StateConnected)

	// Mandatory: this fails unless exchange and binding were re-declared.
	if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("after")}); err != nil {
		t.Fatalf("publish after reconnect: %v", err)
	}
	if body := <-got; body != "after" {
		t.Fatalf("got %q", body)
	}
	if st := f.client.Stats(); st.Reconnects != 1 || st.State != amqp.StateConnected {
		t.Fatalf("client stats %+v", st)
	}
	if st := k.Stats(); st.Sessions != 2 {
		t.Fatalf("consumer sessions %d, want 2 (resumed once)", st.Sessions)
	}
}

func TestStateCallbackNeverBlocksTheLibrary(t *testing.T) {
	requireRabbitmqctl(t)
	release := make(chan struct{})
	f := newFixture(t, withConfig(func(c *amqp.Config) {
		c.MaxConnections = 1
		c.StateBufferSize = 1
		c.OnStateChange = func(amqp.StateChange) { <-release } // stuck on the first change
	}))
	t.Cleanup(func() { close(release) }) // before the client closes
	ctx := testCtx(t, 60*time.Second)
	p := f.publisher(t, amqp.PublisherConfig{})
	closeConnections(t, f.name+"#")
	if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if f.client.Stats().Reconnects == 0 {
		// The publish above can only be confirmed on the new connection.
		t.Fatal("publish confirmed without a reconnection")
	}
	if st := f.client.Stats(); st.StateChangesDropped == 0 {
		t.Fatalf("a stuck callback dropped nothing: %+v", st)
	}
}
