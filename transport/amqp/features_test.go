package amqp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/novaevents/nova/transport/amqp"
)

func TestNewMessageAppliesItsOptions(t *testing.T) {
	m := amqp.NewMessage([]byte("b"), amqp.WithID("m-1"), amqp.WithContentType("text/plain"),
		amqp.WithCompression(true), amqp.WithPriority(7), amqp.WithRoutingKey("k"), amqp.WithHeader("h", int64(1)), nil)
	if string(m.Body) != "b" || m.MessageID != "m-1" || m.ContentType != "text/plain" || m.Compression != amqp.CompressAlways ||
		m.Priority != 7 || m.RoutingKey != "k" || m.Headers["h"] != int64(1) {
		t.Fatalf("%+v", m)
	}
	if m := amqp.NewMessage(nil, amqp.WithCompression(false)); m.Compression != amqp.CompressNever {
		t.Fatalf("%+v", m)
	}
}

func TestPerMessageCompressionOverridesThePublisher(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 20*time.Second)
	p := f.publisher(t, amqp.PublisherConfig{CompressAbove: 10})
	long := bytes.Repeat([]byte("x"), 100)
	for _, m := range []amqp.Message{
		amqp.NewMessage([]byte("tiny"), amqp.WithRoutingKey("k"), amqp.WithID("forced"), amqp.WithCompression(true)),
		amqp.NewMessage(long, amqp.WithRoutingKey("k"), amqp.WithID("refused"), amqp.WithCompression(false)),
		amqp.NewMessage(long, amqp.WithRoutingKey("k"), amqp.WithID("auto")),
	} {
		if err := p.Publish(ctx, f.exchange, m); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"forced": "gzip", "refused": "", "auto": "gzip"}
	for range want {
		m := getOne(t, f.queue, 10*time.Second)
		if m.ContentEncoding != want[m.MessageId] {
			t.Errorf("%s: content-encoding %q, want %q", m.MessageId, m.ContentEncoding, want[m.MessageId])
		}
	}
}

func TestPoolStatsAndBorrowTimeout(t *testing.T) {
	f := newFixture(t, withConfig(func(c *amqp.Config) {
		c.MinConnections, c.MaxConnections = 2, 2
		c.MaxBorrowedChannels, c.BorrowTimeout = 1, 200*time.Millisecond
	}))
	ctx := testCtx(t, 20*time.Second)
	if st := f.client.Stats(); st.Connections != 2 || st.IdleConnections != 2 || st.BorrowedChannels != 0 {
		t.Fatalf("fresh client: %+v", st)
	}
	f.publisher(t, amqp.PublisherConfig{WorkerCount: 1})
	if st := f.client.Stats(); st.IdleConnections != 1 || st.LongLivedChannels != 1 {
		t.Fatalf("with a publisher worker: %+v", st)
	}
	release, err := amqp.Borrow(ctx, f.client)
	if err != nil {
		t.Fatal(err)
	}
	if st := f.client.Stats(); st.BorrowedChannels != 1 || st.IdleConnections > 1 {
		t.Fatalf("with a borrowed channel: %+v", st)
	}
	// The only place is taken: the next borrower gives up after BorrowTimeout.
	err = f.client.Declare(ctx, amqp.Topology{Queues: []amqp.Queue{{Name: f.queue}}})
	if !errors.Is(err, amqp.ErrBorrowTimeout) {
		t.Fatalf("got %v, want ErrBorrowTimeout", err)
	}
	release()
	if err := f.client.Declare(ctx, amqp.Topology{Queues: []amqp.Queue{{Name: f.queue}}}); err != nil {
		t.Fatal(err)
	}
	if st := f.client.Stats(); st.BorrowedChannels != 0 || st.BorrowTimeouts != 1 {
		t.Fatalf("after release: %+v", st)
	}
}

// waitFor polls a condition on stats, which have no event to wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 20s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBatchConsumerFlushesBySizeAndByTime(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 30*time.Second)
	p := f.publisher(t, amqp.PublisherConfig{})
	const total = 250
	msgs := make([]amqp.Message, total)
	for i := range msgs {
		msgs[i] = amqp.NewMessage([]byte(strconv.Itoa(i)), amqp.WithRoutingKey("k"))
	}
	if err := p.PublishBatch(ctx, f.exchange, msgs); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		sizes []int
		seen  = map[string]int{}
		done  = make(chan struct{})
	)
	k := f.consumer(t, amqp.ConsumerConfig{MaxConcurrentHandlers: 1, BatchSize: 100, BatchTimeout: 100 * time.Millisecond, Retry: amqp.RetryPolicy{MaxAttempts: 1}})
	if err := k.StartBatch(ctx, amqp.BatchHandlerFunc(func(_ context.Context, batch []*amqp.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(batch))
		failed := map[int]error{}
		for i, d := range batch {
			seen[string(d.Body)]++
			if string(d.Body) == "7" {
				failed[i] = errors.New("seven is refused")
			}
		}
		if n := len(seen); n == total {
			close(done)
		}
		if len(failed) > 0 {
			return &amqp.BatchError{Failed: failed}
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	<-done
	mu.Lock()
	if sizes[0] != 100 || sizes[1] != 100 || sizes[len(sizes)-1] == 100 {
		t.Errorf("batch sizes %v: want two full batches and a last one flushed by time", sizes)
	}
	mu.Unlock()
	dead := getOne(t, f.dlq(), 10*time.Second)
	if string(dead.Body) != "7" {
		t.Fatalf("dead letter %q, want the delivery the batch error named", dead.Body)
	}
	waitFor(t, "acknowledging the rest", func() bool { return k.Stats().Acked == total-1 })
	if st := k.Stats(); st.DeadLettered != 1 || st.Received != total || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBatchConsumerCountsAndHandsBackWhatItHolds(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 30*time.Second)
	p := f.publisher(t, amqp.PublisherConfig{})
	for i := range 3 {
		if err := p.Publish(ctx, f.exchange, amqp.NewMessage([]byte(fmt.Sprint(i)), amqp.WithRoutingKey("k"))); err != nil {
			t.Fatal(err)
		}
	}
	k := f.consumer(t, amqp.ConsumerConfig{MaxConcurrentHandlers: 1, BatchSize: 10, BatchTimeout: time.Hour})
	if err := k.StartBatch(ctx, amqp.BatchHandlerFunc(func(context.Context, []*amqp.Delivery) error {
		t.Error("a batch that never filled was handled")
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three deliveries gathered", func() bool { return k.Stats().Queued == 3 })
	if err := k.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := k.Stats(); st.Queued != 0 || st.Requeued != 3 {
		t.Fatalf("after Stop: %+v", st)
	}
	waitFor(t, "the three messages back in the queue", func() bool { return queueDepth(t, f.queue) == 3 })
}
