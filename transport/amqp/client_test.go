package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/novaevents/nova/transport/amqp"
)

func TestPoolsAreUsed(t *testing.T) {
	states := make(chan amqp.StateChange, 16)
	f := newFixture(t, withConfig(func(c *amqp.Config) {
		c.MinConnections, c.MaxConnections, c.ChannelPoolSize = 1, 2, 2
		c.OnStateChange = func(sc amqp.StateChange) { states <- sc }
	}))
	ctx := testCtx(t, 30*time.Second)
	if st := f.client.Stats(); st.Connections != 1 || st.MaxConnections != 2 {
		t.Fatalf("after Dial: %+v", st)
	}

	t.Run("publisher workers are spread over the connection pool", func(t *testing.T) {
		p := f.publisher(t, amqp.PublisherConfig{WorkerCount: 4})
		msgs := make([]amqp.Message, 200)
		for i := range msgs {
			msgs[i] = amqp.Message{RoutingKey: "k", Body: []byte("x")}
		}
		if err := p.PublishBatch(ctx, f.exchange, msgs); err != nil {
			t.Fatal(err)
		}
		// The second connection opens for the workers assigned to it.
		for sc := awaitState(t, states, amqp.StateConnected); sc.Connection != 1; sc = awaitState(t, states, amqp.StateConnected) {
		}
		st := f.client.Stats()
		if st.Connections != 2 || st.LongLivedChannels != 4 {
			t.Fatalf("client stats %+v", st)
		}
		if _, err := exec.LookPath("rabbitmqctl"); err == nil {
			// The broker agrees: two connections carry this test's name.
			out := rabbitmqctl(t, "list_connections", "--quiet", "--no-table-headers", "client_properties")
			if n := strings.Count(out, f.name+"#"); n != 2 {
				t.Fatalf("broker lists %d connections named %s#*", n, f.name)
			}
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if st := f.client.Stats(); st.LongLivedChannels != 0 {
			t.Fatalf("workers still assigned after Close: %+v", st)
		}
	})

	t.Run("retries and dead letters reuse pooled channels", func(t *testing.T) {
		if _, err := rawChannel(t).QueuePurge(f.queue, false); err != nil {
			t.Fatal(err)
		}
		k := f.consumer(t, amqp.ConsumerConfig{MaxConcurrentHandlers: 1, Retry: amqp.RetryPolicy{MaxAttempts: 3, InitialDelay: 10 * time.Millisecond}})
		if err := k.Start(ctx, amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
			return amqp.NackRequeue, errors.New("always fails")
		})); err != nil {
			t.Fatal(err)
		}
		before := f.client.Stats()
		p := f.publisher(t, amqp.PublisherConfig{})
		for range 3 {
			if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k"}); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			getOne(t, f.dlq(), 10*time.Second)
		}
		if err := k.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		// 3 messages × (2 retries + 1 dead letter) = 9 borrows, one at a
		// time, and one to declare the dead-letter queue on first use.
		st := f.client.Stats()
		opened, reused := st.ChannelsOpened-before.ChannelsOpened, st.ChannelsReused-before.ChannelsReused
		if opened > 1 || opened+reused != 10 {
			t.Fatalf("opened %d and reused %d pooled channels for 9 publishes and a declaration", opened, reused)
		}
	})

	t.Run("Declare adds topology at run time and Delete removes it", func(t *testing.T) {
		q := f.name + ".declared"
		cleanupBroker(t, []string{q}, nil)
		if err := f.client.Declare(ctx, amqp.Topology{Queues: []amqp.Queue{{Name: q, Transient: true}}}); err != nil {
			t.Fatal(err)
		}
		p := f.publisher(t, amqp.PublisherConfig{Mandatory: true, Retry: amqp.RetryPolicy{MaxAttempts: 1}})
		if err := p.Publish(ctx, "", amqp.Message{RoutingKey: q}); err != nil {
			t.Fatal(err)
		}
		if err := f.client.Delete(ctx, []string{q}, nil); err != nil {
			t.Fatal(err)
		}
		if err := p.Publish(ctx, "", amqp.Message{RoutingKey: q}); !errors.Is(err, amqp.ErrUnroutable) {
			t.Fatalf("publish to the deleted queue: %v", err)
		}
		if err := f.client.Declare(ctx, amqp.Topology{Queues: []amqp.Queue{{Name: q, Type: amqp.Quorum, Transient: true}}}); !errors.Is(err, amqp.ErrInvalidConfig) {
			t.Fatalf("invalid topology: %v", err)
		}
	})
}

func TestDialFailures(t *testing.T) {
	t.Run("an unreachable broker fails when the context ends", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := amqp.Dial(ctx, amqp.Config{URL: "amqp://guest:guest@127.0.0.1:1/", Reconnect: amqp.ReconnectPolicy{InitialDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("refused credentials fail at once, without the password in the error", func(t *testing.T) {
		requireBroker(t)
		url := strings.Replace(brokerURL(), "guest:guest@", "guest:wrong-secret@", 1)
		if url == brokerURL() {
			t.Skip("NOVA_AMQP_URL does not use guest:guest")
		}
		_, err := amqp.Dial(testCtx(t, 10*time.Second), amqp.Config{URL: url})
		if err == nil || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "wrong-secret") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestMisuseReturnsErrors(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 10*time.Second)
	if _, err := f.client.NewConsumer(amqp.ConsumerConfig{}); !errors.Is(err, amqp.ErrInvalidConfig) {
		t.Errorf("consumer without queue: %v", err)
	}
	if _, err := f.client.NewPublisher(amqp.PublisherConfig{WorkerCount: -1}); !errors.Is(err, amqp.ErrInvalidConfig) {
		t.Errorf("negative workers: %v", err)
	}
	k := f.consumer(t, amqp.ConsumerConfig{})
	if err := k.Stop(ctx); !errors.Is(err, amqp.ErrNotStarted) {
		t.Errorf("Stop before Start: %v", err)
	}
	if err := k.Start(ctx, nil); !errors.Is(err, amqp.ErrNilHandler) {
		t.Errorf("nil handler: %v", err)
	}
	ack := amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) { return amqp.Ack, nil })
	missing := f.consumer(t, amqp.ConsumerConfig{Queue: f.name + ".missing"})
	cleanupBroker(t, []string{f.name + ".missing"}, nil)
	if err := missing.Start(ctx, ack); !errors.Is(err, amqp.ErrQueueNotFound) {
		t.Errorf("consuming a missing queue: %v", err)
	}
	// A failed Start leaves the consumer unstarted: once the queue exists,
	// Start works.
	if err := f.client.Declare(ctx, amqp.Topology{Queues: []amqp.Queue{{Name: f.name + ".missing"}}}); err != nil {
		t.Fatal(err)
	}
	if err := missing.Start(ctx, ack); err != nil {
		t.Errorf("Start after the queue appeared: %v", err)
	}
	p := f.publisher(t, amqp.PublisherConfig{})
	if err := p.Publish(ctx, "", amqp.Message{}); !errors.Is(err, amqp.ErrInvalidMessage) {
		t.Errorf("no destination: %v", err)
	}
	//nolint:staticcheck // a nil context is tolerated
	if err := p.Publish(nil, f.exchange, amqp.Message{RoutingKey: "k"}); err != nil {
		t.Errorf("nil context: %v", err)
	}
	if err := f.client.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.NewPublisher(amqp.PublisherConfig{}); !errors.Is(err, amqp.ErrClosed) {
		t.Errorf("publisher after Close: %v", err)
	}
	if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k"}); !errors.Is(err, amqp.ErrClosed) {
		t.Errorf("publish after client Close: %v", err)
	}
	if st := f.client.State(); st != amqp.StateClosed {
		t.Errorf("state %v", st)
	}
}

func TestExclusiveQueuesLiveOnTheFirstConnection(t *testing.T) {
	// Both pooled connections open at Dial: the second must not declare
	// (or bind) the queue the first one owns.
	f := newFixture(t,
		withQueue(func(q *amqp.Queue) { q.Exclusive, q.Transient = true, true }),
		withConfig(func(c *amqp.Config) { c.MinConnections, c.MaxConnections = 2, 2 }))
	ctx := testCtx(t, 20*time.Second)
	if st := f.client.Stats(); st.State != amqp.StateConnected || st.Connections != 2 {
		t.Fatalf("client stats %+v", st)
	}
	// The publisher's worker takes the first connection, so the pool would
	// put the next long-lived channel on the second: not for a consumer of
	// an exclusive queue.
	p := f.publisher(t, amqp.PublisherConfig{WorkerCount: 1})
	got := make(chan string, 1)
	k := f.consumer(t, amqp.ConsumerConfig{})
	if err := k.Start(ctx, amqp.HandlerFunc(func(_ context.Context, d *amqp.Delivery) (amqp.AckDecision, error) {
		got <- string(d.Body)
		return amqp.Ack, nil
	})); err != nil {
		t.Fatal(err)
	}
	if c := amqp.ConsumerConnection(k); c != 0 {
		t.Fatalf("consumer of an exclusive queue on connection %d", c)
	}
	if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-got:
		if body != "hello" {
			t.Fatalf("got %q", body)
		}
	case <-ctx.Done():
		t.Fatal("nothing consumed from the exclusive queue")
	}
	if st := f.client.Stats(); st.State != amqp.StateConnected || st.Connections != 2 {
		t.Fatalf("client stats %+v", st)
	}
}

func TestHealthCheckSweepsOutClosedIdleChannels(t *testing.T) {
	f := newFixture(t, withConfig(func(c *amqp.Config) {
		c.MaxConnections = 1
		c.HealthCheckInterval = 10 * time.Millisecond
	}))
	ctx := testCtx(t, 20*time.Second)
	sweeps := make(chan struct{}, 1)
	amqp.OnHealthCheck(f.client, func() {
		select {
		case sweeps <- struct{}{}:
		default:
		}
	})
	awaitSweeps := func() {
		t.Helper()
		// Three signals: the first may be stale, the second may come from
		// a sweep already under way; the third's sweep began after it.
		for range 3 {
			select {
			case <-sweeps:
			case <-ctx.Done():
				t.Fatal("no health sweep")
			}
		}
	}
	// A declaration borrows a pooled channel and returns it idle.
	if err := f.client.Declare(ctx, amqp.Topology{Exchanges: []amqp.Exchange{{Name: f.exchange}}}); err != nil {
		t.Fatal(err)
	}
	awaitSweeps()
	before := f.client.Stats()
	if before.IdleChannels != 1 {
		t.Fatalf("a healthy idle channel was swept out: %+v", before)
	}
	if n := amqp.BreakIdleChannels(f.client); n != 1 {
		t.Fatalf("broke %d idle channels", n)
	}
	awaitSweeps()
	st := f.client.Stats()
	if st.IdleChannels != 0 || st.ChannelsDiscarded != before.ChannelsDiscarded+1 || st.ChannelsReused != before.ChannelsReused {
		t.Fatalf("after the sweep: %+v (before %+v)", st, before)
	}
}

func TestTopologyIsCopiedAndStoppedConsumersAreForgotten(t *testing.T) {
	requireBroker(t)
	name := uniqueName(t)
	qa, qb := name+".a", name+".b"
	ctx := testCtx(t, 30*time.Second)
	queues := make([]amqp.Queue, 1, 4) // room to append into, if the client did
	queues[0] = amqp.Queue{Name: qa}
	const delay = 10 * time.Millisecond
	cleanupBroker(t, []string{qa, qb, amqp.RetryQueue(qa, delay), qa + ".dlq"}, nil)
	client, err := amqp.Dial(ctx, amqp.Config{URL: brokerURL(), Name: name, Topology: amqp.Topology{Queues: queues}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(testCtx(t, 10*time.Second)) })
	recorded := func() []string {
		var names []string
		for _, q := range amqp.RecordedTopology(client).Queues {
			names = append(names, q.Name)
		}
		return names
	}

	for range 2 { // declaring the same queue twice records it once
		if err := client.Declare(ctx, amqp.Topology{Queues: []amqp.Queue{{Name: qb}}}); err != nil {
			t.Fatal(err)
		}
	}
	if spare := queues[:2][1]; spare.Name != "" {
		t.Fatalf("Declare wrote %q into the caller's Config.Topology slice", spare.Name)
	}
	if got := fmt.Sprint(recorded()); got != fmt.Sprint([]string{qa, qb}) {
		t.Fatalf("recorded %v", got)
	}

	ack := amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) { return amqp.Ack, nil })
	start := func() *amqp.Consumer {
		k, err := client.NewConsumer(amqp.ConsumerConfig{Queue: qa, Retry: amqp.RetryPolicy{MaxAttempts: 2, InitialDelay: delay}})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Start(ctx, ack); err != nil {
			t.Fatal(err)
		}
		return k
	}
	// Two consumers of one queue: their retry queues are declared once,
	// and forgotten when the last one stops. (Their dead-letter queue is
	// declared when they first dead-letter.)
	k1, k2 := start(), start()
	for i, k := range []*amqp.Consumer{nil, k1, k2} {
		if k != nil {
			if err := k.Stop(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if want := []int{3, 3, 2}[i]; len(recorded()) != want {
			t.Fatalf("recorded %v with %d consumers running", recorded(), 2-i)
		}
	}
	for range 3 {
		if err := start().Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(recorded()); got != fmt.Sprint([]string{qa, qb}) {
		t.Fatalf("recorded %v after the consumers stopped", got)
	}
}

func TestHugeConfigValuesAreRefusedOrBounded(t *testing.T) {
	f := newFixture(t)
	for name, cfg := range map[string]amqp.PublisherConfig{
		"MaxInFlight": {MaxInFlight: math.MaxInt},
		"QueueSize":   {QueueSize: math.MaxInt},
		"WorkerCount": {WorkerCount: math.MaxInt},
		"both large":  {WorkerCount: 1 << 40, MaxInFlight: 1 << 40}, // their product overflows
	} {
		if _, err := f.client.NewPublisher(cfg); !errors.Is(err, amqp.ErrInvalidConfig) {
			t.Errorf("publisher with a huge %s: %v", name, err)
		}
	}
	for name, cfg := range map[string]amqp.ConsumerConfig{
		"MaxConcurrentHandlers": {MaxConcurrentHandlers: math.MaxInt},
		"Retry.MaxDelay":        {Retry: amqp.RetryPolicy{MaxDelay: math.MaxInt64}},
	} {
		cfg.Queue = f.queue
		if _, err := f.client.NewConsumer(cfg); !errors.Is(err, amqp.ErrInvalidConfig) {
			t.Errorf("consumer with a huge %s: %v", name, err)
		}
	}
	// Retries cost nothing until they happen: any count is fine, and the
	// retry queues stop at the delay cap.
	k, err := f.client.NewConsumer(amqp.ConsumerConfig{Queue: f.queue, Retry: amqp.RetryPolicy{MaxAttempts: math.MaxInt}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range k.Topology().Queues {
		names = append(names, strings.TrimPrefix(q.Name, f.queue))
	}
	if got := fmt.Sprint(names); got != "[.retry.1s .retry.2s .retry.4s .retry.8s .retry.16s .retry.32s .retry.1m0s .dlq]" {
		t.Fatalf("consumer queues %v", got)
	}
}
