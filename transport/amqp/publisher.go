package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

// headerPublishSeq marks mandatory messages so that a message the broker
// returns can be matched with its receipt.
const headerPublishSeq = "x-nova-publish-seq"

// Publisher sends messages with publisher confirms. Each of its WorkerCount
// workers owns one confirm-mode channel and keeps up to MaxInFlight
// publishes awaiting confirmation, so confirms are pipelined rather than
// awaited one by one. A publish is reported confirmed only when the broker
// acknowledged it; nacked and returned publishes are retried with backoff,
// and publishes lost with a connection are sent again once the Client has
// reconnected.
//
// A Publisher is safe for concurrent use. It starts two goroutines per
// worker (one sends, one awaits confirms) and one that enforces
// PublishTimeout. Close stops them; a Close that runs out of time leaves
// one more goroutine that waits for them to end.
type Publisher struct {
	c       *Client
	cfg     PublisherConfig
	comp    *compressor
	events  EventEncoding
	metrics shared.Metrics

	queue   chan *request
	res     *resolver
	workers []*worker

	mu      sync.RWMutex
	closed  bool
	senders sync.WaitGroup
	closing chan struct{} // no new publishes
	stop    chan struct{} // workers stop now
	done    chan struct{} // Close finished
	wg      sync.WaitGroup

	outstanding atomic.Int64  // accepted and not yet settled by a worker
	drainSig    chan struct{} // pinged when outstanding reaches zero

	stats publisherCounters

	hooks atomic.Pointer[testHooks] // tests only
}

// testHooks let tests pause a worker at chosen points; each gets the
// publisher's stop channel.
type testHooks struct {
	beforeSend, afterSend, beforeAwait func(stop <-chan struct{})
}

func (p *Publisher) hook(pick func(*testHooks) func(<-chan struct{})) {
	if h := p.hooks.Load(); h != nil {
		if fn := pick(h); fn != nil {
			fn(p.stop)
		}
	}
}

type publisherCounters struct {
	published, sent, confirmed, nacked, returned, retried, resent atomic.Uint64
	dropped, timedOut, failed                                     atomic.Uint64
	inFlight                                                      atomic.Int64
	latency                                                       histogram
}

// request is one publish on its way through a worker.
type request struct {
	r         *Receipt
	exchange  string
	key       string
	mandatory bool
	pub       amqp091.Publishing
	tries     int       // attempts the broker answered
	notBefore time.Time // retry not before
	index     int       // in the retry heap
}

// NewPublisher starts a publisher on c's connections. It does not wait for
// them: publishes made before a connection is up wait for it.
func (c *Client) NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Publisher{
		c:        c,
		cfg:      cfg,
		events:   cfg.Events.withDefaults(),
		metrics:  cfg.Metrics,
		queue:    make(chan *request, cfg.QueueSize),
		closing:  make(chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		drainSig: make(chan struct{}, 1),
	}
	if p.metrics == nil {
		p.metrics = shared.NopMetrics{}
	}
	// Always ready: a message may ask for compression (WithCompression).
	if p.comp, err = newCompressor(cfg.CompressionLevel); err != nil {
		return nil, err
	}
	p.res = newResolver(cfg.PublishTimeout, p.onSettle)
	if err := c.register(p, nil, Topology{}); err != nil {
		return nil, err
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.res.reap(p.stop)
	}()
	for i := 0; i < cfg.WorkerCount; i++ {
		w := newWorker(p, c.assign())
		p.workers = append(p.workers, w)
		p.wg.Add(2)
		go w.publishLoop()
		go w.confirmLoop()
	}
	return p, nil
}

func (cfg PublisherConfig) withDefaults() (PublisherConfig, error) {
	if cfg.Name == "" {
		cfg.Name = "amqp.publisher"
	}
	if cfg.WorkerCount == 0 {
		cfg.WorkerCount = DefaultWorkerCount
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.WorkerCount > maxWorkerCount || cfg.MaxInFlight > maxInFlight || cfg.QueueSize > maxQueueSize {
		return cfg, configErrorf("PublisherConfig.WorkerCount", "%d (at most %d), MaxInFlight %d (at most %d), QueueSize %d (at most %d)",
			cfg.WorkerCount, maxWorkerCount, cfg.MaxInFlight, maxInFlight, cfg.QueueSize, maxQueueSize)
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = min(cfg.WorkerCount*cfg.MaxInFlight, maxQueueSize)
	}
	if cfg.PublishTimeout == 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	var err error
	if cfg.Retry, err = retryDefaults("PublisherConfig.Retry", cfg.Retry, DefaultMaxAttempts, DefaultRetryInitial, DefaultRetryMax); err != nil {
		return cfg, err
	}
	switch {
	case cfg.WorkerCount < 0, cfg.MaxInFlight < 0, cfg.QueueSize < 0, cfg.Retry.MaxAttempts < 0:
		return cfg, configErrorf("PublisherConfig", "negative publisher size or attempts")
	case cfg.PublishTimeout < 0, cfg.CompressAbove < 0:
		return cfg, configErrorf("PublisherConfig", "negative PublishTimeout or CompressAbove")
	case cfg.Overflow != workerpool.Block && cfg.Overflow != workerpool.RejectNew:
		return cfg, configErrorf("PublisherConfig.Overflow", "%v: a Publisher takes workerpool.Block or workerpool.RejectNew", cfg.Overflow)
	}
	if err := cfg.Events.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Publish sends msg to exchange and returns once the broker confirmed it,
// or with the publish's error. If ctx is done first it returns ctx.Err()
// and the publish carries on in the background.
func (p *Publisher) Publish(ctx context.Context, exchange string, msg Message) error {
	r, err := p.PublishAsync(ctx, exchange, msg)
	if err != nil {
		return err
	}
	return r.Wait(orBackground(ctx))
}

// PublishAsync queues msg for exchange and returns its receipt without
// waiting for the confirm. When the queue is full it waits for room (Block,
// bounded by ctx and PublishTimeout) or fails with ErrBufferFull
// (RejectNew). ctx only bounds that wait: once accepted, the publish is
// bounded by PublishTimeout. It fails with ErrClosed after Close.
func (p *Publisher) PublishAsync(ctx context.Context, exchange string, msg Message) (*Receipt, error) {
	ctx = orBackground(ctx)
	if exchange == "" && msg.RoutingKey == "" {
		return nil, fmt.Errorf("%w: no exchange and no routing key", ErrInvalidMessage)
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return nil, ErrClosed
	}
	p.senders.Add(1)
	p.mu.RUnlock()
	defer p.senders.Done()

	req := p.newRequest(exchange, msg)
	p.res.add(req.r)
	if req.mandatory {
		req.pub.Headers[headerPublishSeq] = int64(req.r.seq)
	}
	p.outstanding.Add(1)
	size := len(req.pub.Body) // req is the worker's once queued
	err := p.enqueue(ctx, req)
	if err != nil {
		p.res.settle(req.r, PublishResult{}, req.r.failure(err))
		p.finished()
		p.metrics.EventEmitted(p.cfg.Name, msg.Type, err)
		return nil, req.r.failure(err)
	}
	p.stats.published.Add(1)
	p.metrics.EventEmitted(p.cfg.Name, msg.Type, nil)
	if mm, ok := p.metrics.(MessageMetrics); ok {
		mm.MessageSent(p.cfg.Name, size)
	}
	return req.r, nil
}

func (p *Publisher) enqueue(ctx context.Context, req *request) error {
	select {
	case p.queue <- req:
		return nil
	default:
	}
	if p.cfg.Overflow == workerpool.RejectNew {
		p.stats.dropped.Add(1)
		p.metrics.EventDropped(p.cfg.Name, "buffer_full")
		return ErrBufferFull
	}
	timer := time.NewTimer(time.Until(req.r.deadline))
	defer timer.Stop()
	select {
	case p.queue <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return ErrPublishTimeout
	case <-p.closing:
		return ErrClosed
	}
}

func (p *Publisher) newRequest(exchange string, msg Message) *request {
	mandatory := msg.Mandatory || p.cfg.Mandatory
	var headers Table
	if len(msg.Headers) > 0 || mandatory {
		headers = make(Table, len(msg.Headers)+1)
		for k, v := range msg.Headers {
			headers[k] = v
		}
	}
	compress := msg.Compression == CompressAlways ||
		(msg.Compression == CompressAuto && p.cfg.CompressAbove > 0 && len(msg.Body) > p.cfg.CompressAbove)
	if compress && msg.ContentEncoding == "" {
		msg.Body = p.comp.compress(msg.Body)
		msg.ContentEncoding = encodingGzip
	}
	return &request{
		r: &Receipt{
			done:      make(chan struct{}),
			exchange:  exchange,
			key:       msg.RoutingKey,
			messageID: msg.MessageID,
		},
		exchange:  exchange,
		key:       msg.RoutingKey,
		mandatory: mandatory,
		pub:       msg.publishing(headers),
	}
}

// PublishBatch publishes msgs to exchange with their confirms pipelined and
// waits for all of them. It returns nil when every message was confirmed,
// and otherwise the joined errors of those that were not (each a
// *PublishError, or the error that stopped queuing).
func (p *Publisher) PublishBatch(ctx context.Context, exchange string, msgs []Message) error {
	receipts, err := p.PublishBatchAsync(ctx, exchange, msgs)
	errs := []error{err}
	for _, r := range receipts {
		errs = append(errs, r.Wait(orBackground(ctx)))
	}
	return errors.Join(errs...)
}

// PublishBatchAsync queues msgs and returns their receipts in order. It
// stops at the first message that cannot be queued and returns the
// receipts of those before it with that error.
func (p *Publisher) PublishBatchAsync(ctx context.Context, exchange string, msgs []Message) ([]*Receipt, error) {
	receipts := make([]*Receipt, 0, len(msgs))
	for i := range msgs {
		r, err := p.PublishAsync(ctx, exchange, msgs[i])
		if err != nil {
			return receipts, fmt.Errorf("amqp: batch message %d: %w", i, err)
		}
		receipts = append(receipts, r)
	}
	return receipts, nil
}

// WaitAll waits for every receipt and joins their errors. It returns
// ctx.Err() if ctx is done first.
func WaitAll(ctx context.Context, receipts ...*Receipt) error {
	var errs []error
	for _, r := range receipts {
		if r == nil {
			continue
		}
		if err := r.Wait(orBackground(ctx)); err != nil {
			if ctx != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// onSettle counts each receipt's outcome.
func (p *Publisher) onSettle(r *Receipt, err error) {
	if mm, ok := p.metrics.(MessageMetrics); ok {
		mm.MessageSettled(p.cfg.Name, time.Since(r.start), err)
	}
	if err == nil {
		p.stats.confirmed.Add(1)
		p.stats.latency.observe(time.Since(r.start))
		return
	}
	p.stats.failed.Add(1)
	reason := "failed"
	switch {
	case errors.Is(err, ErrPublishTimeout):
		p.stats.timedOut.Add(1)
		reason = "timeout"
	case errors.Is(err, ErrClosed):
		reason = "closed"
	case errors.Is(err, ErrBufferFull):
		return // counted as dropped already
	}
	p.metrics.EventDropped(p.cfg.Name, reason)
}

// finished records that a worker (or a failed enqueue) is done with one
// accepted publish.
func (p *Publisher) finished() {
	if p.outstanding.Add(-1) == 0 {
		select {
		case p.drainSig <- struct{}{}:
		default:
		}
	}
}

func (p *Publisher) stopped() bool { return isClosed(p.stop) }

// Close stops accepting publishes (later calls fail with ErrClosed), waits
// until every accepted publish is confirmed or has failed, then stops the
// workers and closes their channels. If ctx is done first, the publishes
// still pending resolve with ErrClosed and Close returns ctx.Err() at once:
// it does not wait for a worker stuck in a write (a connection the broker
// blocked during a resource alarm), which exits on its own once the write
// ends; a later Close, or Client.Close, waits for that. Calling Close again
// waits for the first call's work and returns nil.
func (p *Publisher) Close(ctx context.Context) error {
	ctx = orBackground(ctx)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		select {
		case <-p.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.closed = true
	close(p.closing)
	p.mu.Unlock()
	p.senders.Wait()

	var err error
	for err == nil && p.outstanding.Load() > 0 {
		select {
		case <-p.drainSig:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	close(p.stop)
	if err != nil {
		// Out of time: resolve what is pending now, and let the workers
		// wind down without waiting for them.
		p.failPending()
		go p.finishClose()
		return err
	}
	p.finishClose()
	return nil
}

// finishClose waits for the workers, resolves whatever they left and
// releases the publisher's place on the client.
func (p *Publisher) finishClose() {
	p.wg.Wait()
	p.failPending()
	for _, w := range p.workers {
		p.c.unassign(w.slot)
	}
	p.c.unregister(p, nil)
	close(p.done)
}

// failPending resolves every publish not settled yet with ErrClosed.
func (p *Publisher) failPending() {
	for {
		select {
		case req := <-p.queue:
			p.res.settle(req.r, PublishResult{}, req.r.failure(ErrClosed))
			continue
		default:
		}
		break
	}
	p.res.settleAll(ErrClosed)
}

// PublisherStats is a snapshot of a Publisher's counters.
type PublisherStats struct {
	Queued      int    // accepted, waiting for a worker
	InFlight    int    // sent, awaiting the broker's confirm
	Outstanding int    // accepted and not yet settled (queued, in flight or waiting to retry)
	Published   uint64 // accepted by PublishAsync
	Sent        uint64 // sent to the broker, retries included
	Confirmed   uint64 // acknowledged by the broker: their receipts succeeded
	Nacked      uint64 // refused by the broker (each try counts)
	Returned    uint64 // returned as unroutable (each try counts)
	Retried     uint64 // tries scheduled after a nack, return or missing exchange
	Resent      uint64 // sent again after a connection or channel was lost
	Dropped     uint64 // refused at once because the queue was full
	TimedOut    uint64 // not confirmed within PublishTimeout
	Failed      uint64 // receipts resolved with an error (TimedOut included)
	// ConfirmLatency is the time from PublishAsync to the confirm.
	ConfirmLatency Histogram
}

// Stats returns a snapshot.
func (p *Publisher) Stats() PublisherStats {
	s := &p.stats
	return PublisherStats{
		Queued:         len(p.queue),
		InFlight:       int(s.inFlight.Load()),
		Outstanding:    int(p.outstanding.Load()),
		Published:      s.published.Load(),
		Sent:           s.sent.Load(),
		Confirmed:      s.confirmed.Load(),
		Nacked:         s.nacked.Load(),
		Returned:       s.returned.Load(),
		Retried:        s.retried.Load(),
		Resent:         s.resent.Load(),
		Dropped:        s.dropped.Load(),
		TimedOut:       s.timedOut.Load(),
		Failed:         s.failed.Load(),
		ConfirmLatency: s.latency.snapshot(),
	}
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// isClosed reports whether ch, a channel that is only ever closed, has been.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
