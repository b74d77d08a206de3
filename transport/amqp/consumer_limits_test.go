package amqp_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/transport/amqp"
)

func gzipped(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestConsumerRefusesGzipBombsByDefault sends small gzip bodies that
// inflate far past the default bound, one honest about its size and one
// whose trailer lies: both are dead-lettered, the handler never runs.
func TestConsumerRefusesGzipBombsByDefault(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 30*time.Second)
	honest := gzipped(t, 2*amqp.DefaultMaxDecompressed)
	lying := bytes.Clone(honest)
	binary.LittleEndian.PutUint32(lying[len(lying)-4:], 100) // claims 100 bytes
	raw := rawChannel(t)
	for _, body := range [][]byte{honest, lying} {
		if len(body) > 1<<20 {
			t.Fatalf("bomb of %d bytes is not small", len(body))
		}
		if err := raw.PublishWithContext(ctx, f.exchange, "bomb", false, false,
			amqp091.Publishing{ContentEncoding: "gzip", Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	handled := make(chan struct{}, 2)
	k := f.consumer(t, amqp.ConsumerConfig{})
	if err := k.Start(ctx, amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
		handled <- struct{}{}
		return amqp.Ack, nil
	})); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		dead := getOne(t, f.dlq(), 10*time.Second)
		reason, _ := dead.Headers[amqp.HeaderDeadLetterReason].(string)
		if !strings.Contains(reason, "exceeds") && !strings.Contains(reason, "corrupt gzip") {
			t.Fatalf("reason %q", reason)
		}
	}
	if len(handled) != 0 {
		t.Fatal("the handler saw a bomb")
	}
}

// queueExists asks the broker, on a fresh channel, whether queue exists.
func queueExists(t *testing.T, queue string) bool {
	t.Helper()
	_, err := rawChannel(t).QueueDeclarePassive(queue, false, false, false, false, nil)
	var ae *amqp091.Error
	if errors.As(err, &ae) && ae.Code == amqp091.NotFound {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func TestConsumersLeaveNoQueuesBehind(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 20*time.Second)
	t.Run("a consumer of a missing queue", func(t *testing.T) {
		k := f.consumer(t, amqp.ConsumerConfig{Queue: f.name + ".missing"})
		err := k.Start(ctx, amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) { return amqp.Ack, nil }))
		if !errors.Is(err, amqp.ErrQueueNotFound) {
			t.Fatalf("got %v", err)
		}
		for _, q := range k.Topology().Queues {
			if queueExists(t, q.Name) {
				t.Errorf("queue %s left behind", q.Name)
			}
		}
	})
	t.Run("a consumer with retries off that never dead-letters", func(t *testing.T) {
		k := f.consumer(t, amqp.ConsumerConfig{Retry: amqp.RetryPolicy{MaxAttempts: 1}})
		if err := k.Start(ctx, amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) { return amqp.Ack, nil })); err != nil {
			t.Fatal(err)
		}
		if err := k.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if names := k.Topology().Queues; len(names) != 1 || queueExists(t, f.dlq()) {
			t.Fatalf("topology %v; dead-letter queue exists: %v", names, queueExists(t, f.dlq()))
		}
	})
	t.Run("the dead-letter queue appears with the first dead letter", func(t *testing.T) {
		k := f.consumer(t, amqp.ConsumerConfig{Retry: amqp.RetryPolicy{MaxAttempts: 1}})
		if err := k.Start(ctx, amqp.HandlerFunc(func(context.Context, *amqp.Delivery) (amqp.AckDecision, error) {
			return amqp.Reject, errors.New("no")
		})); err != nil {
			t.Fatal(err)
		}
		p := f.publisher(t, amqp.PublisherConfig{})
		if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		dead := getOne(t, f.dlq(), 10*time.Second)
		if string(dead.Body) != "x" {
			t.Fatalf("dead letter %q", dead.Body)
		}
		if !slicesContainQueue(amqp.RecordedTopology(f.client), f.dlq()) {
			t.Fatal("the dead-letter queue is not declared again after reconnections")
		}
	})
}

func slicesContainQueue(t amqp.Topology, name string) bool {
	for _, q := range t.Queues {
		if q.Name == name {
			return true
		}
	}
	return false
}

// allocatedBy reports the bytes fn allocates.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestInflatingABombAllocatesAboutTheLimitAtMost shows the memory a bomb
// costs: nothing much when its trailer admits its size, and about twice
// the limit when the trailer lies.
func TestInflatingABombAllocatesAboutTheLimitAtMost(t *testing.T) {
	const limit = 1 << 20
	honest := gzipped(t, 16*limit)
	lying := bytes.Clone(honest)
	binary.LittleEndian.PutUint32(lying[len(lying)-4:], 100)
	for name, tc := range map[string]struct {
		body []byte
		max  uint64
	}{
		"a bomb that admits its size": {honest, limit / 4},
		"a bomb whose trailer lies":   {lying, 3 * limit},
	} {
		var err error
		n := allocatedBy(func() { _, err = amqp.Inflate(tc.body, limit) })
		if !errors.Is(err, amqp.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
		if n > tc.max {
			t.Errorf("%s: allocated %d bytes, want at most %d", name, n, tc.max)
		}
	}
	small := gzipped(t, limit)
	if out, err := amqp.Inflate(small, limit); err != nil || len(out) != limit {
		t.Fatalf("a body of exactly the limit: %d bytes, %v", len(out), err)
	}
}
