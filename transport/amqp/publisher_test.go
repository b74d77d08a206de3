package amqp_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novaevents/nova/transport/amqp"
)

func TestPublisherReceiptsResolveUnderLoad(t *testing.T) {
	f := newFixture(t)
	p := f.publisher(t, amqp.PublisherConfig{WorkerCount: 3, MaxInFlight: 256})
	ctx := testCtx(t, 60*time.Second)

	const goroutines, perGoroutine = 8, 2500
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			receipts := make([]*amqp.Receipt, 0, perGoroutine)
			for i := range perGoroutine {
				r, err := p.PublishAsync(ctx, f.exchange, amqp.Message{
					RoutingKey: "load", Body: []byte(strconv.Itoa(g*perGoroutine + i)), Transient: i%2 == 0,
				})
				if err != nil {
					errs <- err
					return
				}
				receipts = append(receipts, r)
			}
			// Receipts resolve in publish order: once one is done, every
			// earlier one from this goroutine is done too.
			for i := len(receipts) - 1; i >= 0; i-- {
				if err := receipts[i].Wait(ctx); err != nil {
					errs <- fmt.Errorf("receipt %d: %w", i, err)
					return
				}
				for j := range i {
					select {
					case <-receipts[j].Done():
					default:
						errs <- fmt.Errorf("receipt %d done before receipt %d", i, j)
						return
					}
				}
				break
			}
			for i, r := range receipts {
				if res, err := r.Result(); err != nil || res.Attempts != 1 {
					errs <- fmt.Errorf("receipt %d: %+v, %v", i, res, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := queueDepth(t, f.queue); got != goroutines*perGoroutine {
		t.Fatalf("queue holds %d messages, want %d", got, goroutines*perGoroutine)
	}
	st := p.Stats()
	if st.Confirmed != goroutines*perGoroutine || st.Failed != 0 || st.InFlight != 0 || st.Outstanding != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.ConfirmLatency.Count != goroutines*perGoroutine {
		t.Fatalf("latency histogram counted %d", st.ConfirmLatency.Count)
	}
	t.Logf("p50 ≤ %v, p99 ≤ %v", st.ConfirmLatency.Quantile(0.5), st.ConfirmLatency.Quantile(0.99))
}

func TestPublisherUnroutableMandatoryFails(t *testing.T) {
	f := newFixture(t)
	p := f.publisher(t, amqp.PublisherConfig{Retry: amqp.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Millisecond}})
	ctx := testCtx(t, 20*time.Second)

	t.Run("a mandatory message no queue receives fails with ErrUnroutable", func(t *testing.T) {
		// Published alongside routable ones: only it fails.
		var receipts []*amqp.Receipt
		for i := range 20 {
			msg := amqp.Message{RoutingKey: "routable", Body: []byte("ok"), Mandatory: true}
			exchange := f.exchange
			if i == 10 {
				exchange, msg.RoutingKey = "", f.name+".no-such-queue"
			}
			r, err := p.PublishAsync(ctx, exchange, msg)
			if err != nil {
				t.Fatal(err)
			}
			receipts = append(receipts, r)
		}
		for i, r := range receipts {
			err := r.Wait(ctx)
			if i != 10 {
				if err != nil {
					t.Fatalf("routable message %d: %v", i, err)
				}
				continue
			}
			var re *amqp.ReturnedError
			var pe *amqp.PublishError
			if !errors.Is(err, amqp.ErrUnroutable) || !errors.As(err, &re) || !errors.As(err, &pe) {
				t.Fatalf("unroutable message: got %v", err)
			}
			if re.Code != 312 || pe.Attempts != 2 {
				t.Fatalf("returned %+v after %d attempts", re, pe.Attempts)
			}
			t.Logf("error reads: %v", err)
		}
		if st := p.Stats(); st.Returned != 2 || st.Retried != 1 {
			t.Fatalf("stats: returned %d, retried %d", st.Returned, st.Retried)
		}
	})

	t.Run("a publish to a missing exchange fails with ErrExchangeNotFound and spares the others", func(t *testing.T) {
		bad, err := p.PublishAsync(ctx, f.name+".no-such-exchange", amqp.Message{RoutingKey: "k", Body: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		good, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("y")})
		if err != nil {
			t.Fatal(err)
		}
		if err := bad.Wait(ctx); !errors.Is(err, amqp.ErrExchangeNotFound) {
			t.Fatalf("got %v", err)
		}
		if err := good.Wait(ctx); err != nil {
			t.Fatalf("the other publish failed: %v", err)
		}
	})
}

// heldPublisher returns a publisher with one worker, one slot and a queue of
// one, whose worker is stuck before its first send until release closes.
func heldPublisher(t *testing.T, f *fixture, cfg amqp.PublisherConfig) (*amqp.Publisher, chan struct{}, chan struct{}) {
	t.Helper()
	cfg.WorkerCount, cfg.MaxInFlight, cfg.QueueSize = 1, 1, 1
	p := f.publisher(t, cfg)
	release, holding := make(chan struct{}), make(chan struct{}, 16)
	amqp.HoldSends(p, func(stop <-chan struct{}) {
		holding <- struct{}{}
		select {
		case <-release:
		case <-stop:
		}
	})
	return p, release, holding
}

func TestPublisherOverflowPolicies(t *testing.T) {
	t.Run("RejectNew fails at once with ErrBufferFull and counts the drop", func(t *testing.T) {
		f := newFixture(t)
		ctx := testCtx(t, 10*time.Second)
		p, release, holding := heldPublisher(t, f, amqp.PublisherConfig{Overflow: amqp.RejectNew})
		first, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("1")})
		if err != nil {
			t.Fatal(err)
		}
		<-holding // the worker holds the first message
		second, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("2")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("3")}); !errors.Is(err, amqp.ErrBufferFull) {
			t.Fatalf("third publish: %v", err)
		}
		close(release)
		if err := amqp.WaitAll(ctx, first, second); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.Dropped != 1 || st.Confirmed != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("Block waits for room until the caller's context ends", func(t *testing.T) {
		f := newFixture(t)
		ctx := testCtx(t, 10*time.Second)
		p, release, holding := heldPublisher(t, f, amqp.PublisherConfig{})
		defer close(release)
		for i := range 2 {
			if _, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k"}); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				<-holding
			}
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := p.PublishAsync(short, f.exchange, amqp.Message{RoutingKey: "k"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("blocked publish: %v", err)
		}
	})
}

func TestPublisherTimeoutResolvesReceiptAndNeverSendsLate(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 10*time.Second)
	p, release, holding := heldPublisher(t, f, amqp.PublisherConfig{PublishTimeout: 100 * time.Millisecond})
	first, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k", MessageID: "late"})
	if err != nil {
		t.Fatal(err)
	}
	<-holding
	second, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*amqp.Receipt{first, second} {
		var pe *amqp.PublishError
		if err := r.Wait(ctx); !errors.Is(err, amqp.ErrPublishTimeout) || !errors.As(err, &pe) {
			t.Fatalf("got %v", err)
		}
	}
	if pe := new(amqp.PublishError); errors.As(first.Err(), &pe) && pe.MessageID != "late" {
		t.Fatalf("error names message %q", pe.MessageID)
	}
	close(release)
	// Once released, the worker drops both instead of sending them late.
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Sent != 0 || st.TimedOut != 2 || st.Outstanding != 0 {
		t.Fatalf("stats %+v", st)
	}
	if n := queueDepth(t, f.queue); n != 0 {
		t.Fatalf("%d timed-out messages were sent anyway", n)
	}
}

func TestPublisherCloseResolvesEveryReceipt(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 10*time.Second)
	p, _, holding := heldPublisher(t, f, amqp.PublisherConfig{})
	var receipts []*amqp.Receipt
	for i := range 2 {
		r, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, r)
		if i == 0 {
			<-holding
		}
	}
	// A third publish is blocked waiting for room when Close begins.
	blocked := make(chan error, 1)
	go func() {
		_, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k"})
		blocked <- err
	}()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := p.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v", err)
	}
	if err := <-blocked; !errors.Is(err, amqp.ErrClosed) {
		t.Fatalf("blocked publish: %v", err)
	}
	for i, r := range receipts {
		select {
		case <-r.Done():
		default:
			t.Fatalf("receipt %d unresolved after Close", i)
		}
		if !errors.Is(r.Err(), amqp.ErrClosed) {
			t.Fatalf("receipt %d: %v", i, r.Err())
		}
	}
	if _, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k"}); !errors.Is(err, amqp.ErrClosed) {
		t.Fatalf("publish after Close: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPublisherRetriesNackedPublishes(t *testing.T) {
	// A queue limited to one message that refuses further publishes makes
	// the broker nack them.
	f := newFixture(t, withQueue(func(q *amqp.Queue) { q.MaxLength, q.RejectPublishWhenFull = 1, true }))
	ctx := testCtx(t, 20*time.Second)
	p := f.publisher(t, amqp.PublisherConfig{Retry: amqp.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}})
	if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("fills the queue")}); err != nil {
		t.Fatal(err)
	}

	t.Run("a publish nacked every time fails with ErrNacked after MaxAttempts", func(t *testing.T) {
		err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k"})
		var pe *amqp.PublishError
		if !errors.Is(err, amqp.ErrNacked) || !errors.As(err, &pe) || pe.Attempts != 3 {
			t.Fatalf("got %v", err)
		}
		if st := p.Stats(); st.Nacked != 3 || st.Retried != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("a publish nacked once succeeds when a retry finds room", func(t *testing.T) {
		slow := f.publisher(t, amqp.PublisherConfig{Retry: amqp.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}})
		retrying, drained := make(chan struct{}), make(chan struct{})
		sends := 0
		amqp.HoldSends(slow, func(<-chan struct{}) {
			if sends++; sends == 2 { // the first try was nacked
				close(retrying)
				<-drained
			}
		})
		r, err := slow.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: []byte("second")})
		if err != nil {
			t.Fatal(err)
		}
		<-retrying
		if body := getOne(t, f.queue, 5*time.Second).Body; string(body) != "fills the queue" {
			t.Fatalf("drained %q", body)
		}
		close(drained)
		if err := r.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if res, _ := r.Result(); res.Attempts != 2 || slow.Stats().Nacked != 1 {
			t.Fatalf("result %+v, stats %+v", res, slow.Stats())
		}
	})
}

func TestPublisherCompressesLargeBodies(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 10*time.Second)
	p := f.publisher(t, amqp.PublisherConfig{CompressAbove: 1024})
	large := []byte(strings.Repeat("nova compresses repetitive payloads well. ", 100))
	for _, body := range [][]byte{[]byte("small"), large} {
		if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	// Any AMQP client sees the encoding and can inflate the body.
	small, big := getOne(t, f.queue, 5*time.Second), getOne(t, f.queue, 5*time.Second)
	if small.ContentEncoding != "" || string(small.Body) != "small" {
		t.Fatalf("small message: encoding %q", small.ContentEncoding)
	}
	if big.ContentEncoding != "gzip" || len(big.Body) >= len(large)/4 {
		t.Fatalf("large message: encoding %q, %d bytes", big.ContentEncoding, len(big.Body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(big.Body))
	if err != nil {
		t.Fatal(err)
	}
	if inflated, err := io.ReadAll(zr); err != nil || !bytes.Equal(inflated, large) {
		t.Fatalf("inflated %d bytes, %v", len(inflated), err)
	}
	// Our consumer hands the handler the inflated body.
	if err := p.Publish(ctx, f.exchange, amqp.Message{RoutingKey: "k", Body: large}); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	k := f.consumer(t, amqp.ConsumerConfig{})
	if err := k.Start(ctx, amqp.HandlerFunc(func(_ context.Context, d *amqp.Delivery) (amqp.AckDecision, error) {
		got <- d.Body
		return amqp.Ack, nil
	})); err != nil {
		t.Fatal(err)
	}
	if body := <-got; !bytes.Equal(body, large) {
		t.Fatalf("consumer got %d bytes", len(body))
	}
}

func TestPublisherPipelinesConfirms(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 10*time.Second)
	const window = 8
	p := f.publisher(t, amqp.PublisherConfig{WorkerCount: 1, MaxInFlight: window})
	release, sends := make(chan struct{}), make(chan struct{}, window)
	awaited := 0
	amqp.HoldConfirms(p, func(<-chan struct{}) { sends <- struct{}{} }, func(stop <-chan struct{}) {
		if awaited++; awaited == 1 {
			select { // no confirm is looked at until the test says so
			case <-release:
			case <-stop:
			}
		}
	})
	var receipts []*amqp.Receipt
	for range window {
		r, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, r)
	}
	// All of them go out before the first confirm is processed: confirms
	// are pipelined, not awaited one by one.
	for range window {
		<-sends
	}
	if st := p.Stats(); st.InFlight != window || st.Confirmed != 0 {
		t.Fatalf("stats while confirms are held: %+v", st)
	}
	close(release)
	if err := amqp.WaitAll(ctx, receipts...); err != nil {
		t.Fatal(err)
	}
}

func TestPublisherCloseDoesNotWaitPastItsContext(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 20*time.Second)
	p := f.publisher(t, amqp.PublisherConfig{WorkerCount: 1, MaxInFlight: 1, QueueSize: 1})
	stuck, release := make(chan struct{}, 16), make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	// The worker is stuck the way a write to a connection the broker
	// blocked (resource alarm) is stuck: it ignores the publisher's stop.
	amqp.HoldSends(p, func(<-chan struct{}) {
		stuck <- struct{}{}
		<-release
	})
	r, err := p.PublishAsync(ctx, f.exchange, amqp.Message{RoutingKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	<-stuck
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- p.Close(short) }()
	select {
	case err := <-closed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Close waited past its context for a stuck worker")
	}
	select {
	case <-r.Done():
	default:
		t.Fatal("receipt unresolved after Close returned")
	}
	if !errors.Is(r.Err(), amqp.ErrClosed) {
		t.Fatalf("receipt: %v", r.Err())
	}
	// Once the write ends, the worker exits and a second Close sees the
	// first one's work finished.
	releaseOnce.Do(func() { close(release) })
	if err := p.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if st := p.Stats(); st.Sent != 0 || st.Outstanding != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPublishBatchErrors(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 20*time.Second)
	p := f.publisher(t, amqp.PublisherConfig{Mandatory: true, Retry: amqp.RetryPolicy{MaxAttempts: 1}})
	ok := amqp.Message{RoutingKey: f.queue, Body: []byte("ok")}
	nowhere := func(id string) amqp.Message {
		return amqp.Message{RoutingKey: f.name + ".nowhere", MessageID: id}
	}
	invalid := amqp.Message{} // no exchange and no routing key
	depth := 0
	expectDepth := func(added int) {
		t.Helper()
		depth += added
		if n := queueDepth(t, f.queue); n != depth {
			t.Fatalf("queue holds %d, want %d", n, depth)
		}
	}

	t.Run("PublishBatchAsync stops at the first message it cannot queue", func(t *testing.T) {
		receipts, err := p.PublishBatchAsync(ctx, "", []amqp.Message{ok, ok, invalid, ok})
		if !errors.Is(err, amqp.ErrInvalidMessage) || !strings.Contains(err.Error(), "batch message 2") {
			t.Fatalf("got %v", err)
		}
		if len(receipts) != 2 {
			t.Fatalf("%d receipts, want the 2 before the invalid message", len(receipts))
		}
		if err := amqp.WaitAll(ctx, receipts...); err != nil {
			t.Fatal(err)
		}
		expectDepth(2) // the message after the invalid one was never sent
	})

	t.Run("PublishBatch joins the error of every message not confirmed", func(t *testing.T) {
		err := p.PublishBatch(ctx, "", []amqp.Message{ok, nowhere("m-1"), ok, nowhere("m-3")})
		if !errors.Is(err, amqp.ErrUnroutable) {
			t.Fatalf("got %v", err)
		}
		joined, isJoined := err.(interface{ Unwrap() []error })
		if !isJoined {
			t.Fatalf("not a joined error: %T", err)
		}
		var ids []string
		for _, e := range joined.Unwrap() {
			var pe *amqp.PublishError
			if !errors.As(e, &pe) {
				t.Fatalf("joined error %v is not a *PublishError", e)
			}
			ids = append(ids, pe.MessageID)
		}
		if fmt.Sprint(ids) != "[m-1 m-3]" {
			t.Fatalf("errors for messages %v", ids)
		}
		expectDepth(2)
	})

	t.Run("PublishBatch reports what stopped it along with earlier failures", func(t *testing.T) {
		err := p.PublishBatch(ctx, "", []amqp.Message{ok, nowhere("m-1"), invalid, ok})
		if !errors.Is(err, amqp.ErrUnroutable) || !errors.Is(err, amqp.ErrInvalidMessage) {
			t.Fatalf("got %v", err)
		}
		expectDepth(1)
	})

	t.Run("PublishBatch after Close fails with ErrClosed and sends nothing", func(t *testing.T) {
		closed := f.publisher(t, amqp.PublisherConfig{})
		if err := closed.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := closed.PublishBatch(ctx, "", []amqp.Message{ok, ok}); !errors.Is(err, amqp.ErrClosed) {
			t.Fatalf("got %v", err)
		}
		expectDepth(0)
	})
}
