package amqp

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/shared"
)

// BatchHandler processes deliveries in batches (see Consumer.StartBatch).
// It returns nil when every delivery of the batch is done: they are all
// acknowledged. A *BatchError fails only the deliveries it names; any
// other error fails them all. Failed deliveries are retried or
// dead-lettered one by one through the consumer's ErrorPolicy, as with
// Handler. The handler must not keep the slice after it returns.
type BatchHandler interface {
	HandleBatch(ctx context.Context, batch []*Delivery) error
}

// BatchHandlerFunc adapts a function to BatchHandler.
type BatchHandlerFunc func(ctx context.Context, batch []*Delivery) error

// HandleBatch calls f.
func (f BatchHandlerFunc) HandleBatch(ctx context.Context, batch []*Delivery) error {
	return f(ctx, batch)
}

// BatchError names the deliveries of a batch that failed, by their index
// in the batch, with their errors. Deliveries it does not name succeeded.
type BatchError struct {
	Failed map[int]error
}

func (e *BatchError) Error() string {
	idx := make([]int, 0, len(e.Failed))
	for i := range e.Failed {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	parts := make([]string, 0, len(idx))
	for _, i := range idx {
		parts = append(parts, fmt.Sprintf("%d: %v", i, e.Failed[i]))
	}
	return fmt.Sprintf("amqp: %d deliveries of the batch failed (%s)", len(idx), strings.Join(parts, "; "))
}

// errorFor is the error of delivery i of a batch whose handler returned
// err.
func errorFor(err error, i int) error {
	var be *BatchError
	if errors.As(err, &be) {
		return be.Failed[i]
	}
	return err
}

// StartBatch is Start with a handler that takes deliveries in batches:
// each of the MaxConcurrentHandlers goroutines gathers up to BatchSize
// deliveries and hands them over once the batch is full, or BatchTimeout
// after its first delivery arrived, whichever comes first. Prefetch
// defaults to BatchSize × MaxConcurrentHandlers so that batches can fill.
// Gzip bodies are inflated before batching; one that cannot be is
// dead-lettered on its own. The handler's ctx ends at HandlerTimeout; a
// batch handler is waited for (never abandoned), and when it fails after
// its deadline the batch fails with a *shared.TimeoutError. A panic fails
// the whole batch. On Stop, deliveries gathered into a batch that has not
// started are handed back to the broker.
func (k *Consumer) StartBatch(ctx context.Context, h BatchHandler) error {
	if h == nil {
		return ErrNilHandler
	}
	return k.start(ctx, nil, h)
}

// workBatches gathers deliveries into batches and runs the batch handler
// on each, until the channel ends the deliveries.
func (s *session) workBatches() {
	defer s.wg.Done()
	k := s.k
	batch := make([]*Delivery, 0, k.cfg.BatchSize)
	timer := time.NewTimer(k.cfg.BatchTimeout)
	timer.Stop()
	defer timer.Stop()
	handBack := func() {
		for _, d := range batch {
			if d.raw.Nack(false, true) == nil {
				k.stats.requeued.Add(1)
			}
		}
		k.stats.queued.Add(-int64(len(batch)))
		batch = batch[:0]
	}
	flush := func() {
		timer.Stop()
		if k.isStopping() {
			handBack()
			return
		}
		k.stats.queued.Add(-int64(len(batch)))
		k.processBatch(batch)
		clear(batch)
		batch = batch[:0]
	}
	for {
		var due <-chan time.Time
		if len(batch) > 0 {
			due = timer.C
		}
		select {
		case raw, ok := <-s.deliveries:
			if !ok {
				handBack() // the channel is gone or cancelled: nothing can be acknowledged
				return
			}
			if k.isStopping() {
				_ = raw.Nack(false, true)
				k.stats.requeued.Add(1)
				continue
			}
			k.stats.received.Add(1)
			d, ok := k.admit(&raw)
			if !ok {
				continue
			}
			batch = append(batch, d)
			k.stats.queued.Add(1)
			if len(batch) == 1 {
				timer.Reset(k.cfg.BatchTimeout)
			}
			if len(batch) >= k.cfg.BatchSize {
				flush()
			}
		case <-due:
			flush()
		}
	}
}

// admit turns a raw delivery into a Delivery, inflating its body. A body
// that cannot be inflated is settled at once and admit reports false.
func (k *Consumer) admit(raw *amqp091.Delivery) (*Delivery, bool) {
	d := newDelivery(k.cfg.Queue, raw)
	if d.ContentEncoding == encodingGzip {
		var err error
		if d.Body, err = inflate(raw.Body, k.cfg.MaxDecompressedSize); err != nil {
			k.settle(d, DecideByError, err)
			return nil, false
		}
	}
	return d, true
}

// processBatch runs the batch handler on batch and settles each delivery.
func (k *Consumer) processBatch(batch []*Delivery) {
	n := int64(len(batch))
	k.stats.inFlight.Add(n)
	defer k.stats.inFlight.Add(-n)
	ctx, cancel := k.hctx, context.CancelFunc(func() {})
	if k.cfg.HandlerTimeout > 0 {
		ctx, cancel = context.WithTimeout(k.hctx, k.cfg.HandlerTimeout)
	}
	start := time.Now()
	err := k.callBatch(ctx, batch)
	took := time.Since(start)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.As(err, new(*shared.PanicError)) {
		k.stats.timeouts.Add(1)
		err = k.timeoutError()
	}
	cancel()
	for i, d := range batch {
		derr := errorFor(err, i)
		k.observe(d, took, derr)
		k.settle(d, DecideByError, derr)
	}
}

// callBatch runs the batch handler, recovering a panic.
func (k *Consumer) callBatch(ctx context.Context, batch []*Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			k.stats.panics.Add(1)
			err = shared.NewPanicError(r)
		}
	}()
	return k.batch.HandleBatch(ctx, batch)
}
