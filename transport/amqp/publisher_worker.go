package amqp

import (
	"container/heap"
	"errors"
	"fmt"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// worker owns one confirm-mode channel at a time. Its publish loop takes
// requests (holding one of MaxInFlight slots each), sends them and hands
// them to its confirm loop, which awaits the confirms in order and settles
// receipts or hands failed requests back for a retry.
type worker struct {
	p        *Publisher
	slot     *slot
	slots    chan struct{} // one token per request the worker holds
	retry    chan *request // confirm loop → publish loop
	inflight chan *flight  // publish loop → confirm loop, in send order
	pubDone  chan struct{} // closed when the publish loop returns
}

// flight is one sent publish awaiting its confirm.
type flight struct {
	req *request
	dc  *amqp091.DeferredConfirmation
	ch  *confirmChannel
}

// confirmChannel is one opened channel. Its returns and close
// notifications are read only by the confirm loop.
type confirmChannel struct {
	ch         *amqp091.Channel
	returns    chan amqp091.Return
	closes     chan *amqp091.Error
	returned   map[int64]*ReturnedError
	closeErr   error
	closeKnown bool
}

func newWorker(p *Publisher, s *slot) *worker {
	n := p.cfg.MaxInFlight
	return &worker{
		p:        p,
		slot:     s,
		slots:    make(chan struct{}, n),
		retry:    make(chan *request, n),
		inflight: make(chan *flight, n),
		pubDone:  make(chan struct{}),
	}
}

func (w *worker) publishLoop() {
	defer w.p.wg.Done()
	defer close(w.pubDone)
	var (
		cc       *confirmChannel
		waiting  retryHeap
		holding  bool // a slot is taken for the next queued request
		failures int  // consecutive failures to open a channel
		timer    = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer func() {
		if cc != nil {
			_ = cc.ch.Close() // unconfirmed publishes resolve as nacks
		}
		for waiting.Len() > 0 {
			w.abandon(heap.Pop(&waiting).(*request))
		}
		for {
			select {
			case req := <-w.retry:
				w.abandon(req)
			default:
				return
			}
		}
	}()
	for {
		if cc != nil && cc.ch.IsClosed() {
			cc = nil
		}
		// Send what is due.
		for cc != nil && waiting.Len() > 0 && !waiting[0].notBefore.After(time.Now()) {
			req := heap.Pop(&waiting).(*request)
			if !w.send(cc, req) {
				heap.Push(&waiting, req)
				cc = nil
			}
		}

		var (
			queue   <-chan *request
			acquire chan<- struct{}
			ready   <-chan struct{}
			lost    <-chan struct{}
			wake    <-chan time.Time
		)
		if cc == nil {
			gen, r := w.slot.current()
			if gen != nil {
				var err error
				if cc, err = w.open(gen); err == nil {
					failures = 0
					continue
				}
				failures++
				lost = gen.lost
				timer.Reset(w.p.cfg.Retry.Delay(failures))
				wake = timer.C
			} else {
				ready = r
			}
		} else {
			if holding {
				queue = w.p.queue
			} else {
				acquire = w.slots
			}
			if waiting.Len() > 0 {
				timer.Reset(time.Until(waiting[0].notBefore))
				wake = timer.C
			}
		}

		select {
		case req := <-w.retry:
			heap.Push(&waiting, req)
		case acquire <- struct{}{}:
			holding = true
		case req := <-queue:
			holding = false
			if req.r.settled() { // timed out while queued: never send it
				w.finish(req)
			} else if !w.send(cc, req) {
				heap.Push(&waiting, req)
				cc = nil
			}
		case <-wake:
		case <-ready:
		case <-lost:
		case <-w.p.stop:
			return
		}
		if wake != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// open opens a confirm-mode channel on gen and subscribes to its returns
// and closure.
func (w *worker) open(gen *connGen) (*confirmChannel, error) {
	ch, err := gen.conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, err
	}
	return &confirmChannel{
		ch:       ch,
		returns:  ch.NotifyReturn(make(chan amqp091.Return, 128)),
		closes:   ch.NotifyClose(make(chan *amqp091.Error, 1)),
		returned: map[int64]*ReturnedError{},
	}, nil
}

// send publishes req on cc. It returns false when the channel is gone and
// req must wait for the next one; any other failure settles req.
func (w *worker) send(cc *confirmChannel, req *request) bool {
	w.p.hook(func(h *testHooks) func(<-chan struct{}) { return h.beforeSend })
	if req.r.settled() {
		w.finish(req)
		return true
	}
	dc, err := cc.ch.PublishWithDeferredConfirm(req.exchange, req.key, req.mandatory, false, req.pub)
	if err != nil {
		if cc.ch.IsClosed() || isConnectionLoss(err) {
			req.r.setCause(err)
			return false
		}
		w.p.res.settle(req.r, PublishResult{}, req.r.failure(err))
		w.finish(req)
		return true
	}
	w.p.stats.sent.Add(1)
	w.p.stats.inFlight.Add(1)
	w.inflight <- &flight{req: req, dc: dc, ch: cc}
	w.p.hook(func(h *testHooks) func(<-chan struct{}) { return h.afterSend })
	return true
}

func (w *worker) confirmLoop() {
	defer w.p.wg.Done()
	for {
		select {
		case f := <-w.inflight:
			w.await(f)
		case <-w.pubDone:
			for {
				select {
				case f := <-w.inflight:
					w.await(f)
				default:
					return
				}
			}
		}
	}
}

// await waits for f's confirm and decides its fate.
func (w *worker) await(f *flight) {
	cc, req, p := f.ch, f.req, w.p
	p.hook(func(h *testHooks) func(<-chan struct{}) { return h.beforeAwait })
	for waiting := true; waiting; {
		select {
		case <-f.dc.Done():
			waiting = false
		case ret, ok := <-cc.returns:
			if !ok {
				cc.returns = nil
				continue
			}
			cc.noteReturn(ret)
		case <-p.stop:
			// Close gave up waiting (stop only closes early then): the
			// confirm may never come, for instance while the broker blocks
			// the connection.
			select {
			case <-f.dc.Done():
				waiting = false
				continue
			default:
			}
			p.stats.inFlight.Add(-1)
			w.abandon(req)
			return
		}
	}
	cc.drainReturns()
	p.stats.inFlight.Add(-1)
	seq := int64(req.r.seq)

	if f.dc.Acked() {
		if rerr, ok := cc.returned[seq]; ok && req.mandatory {
			delete(cc.returned, seq)
			p.stats.returned.Add(1)
			w.failedAttempt(req, rerr)
			return
		}
		req.tries++
		req.r.attempts.Store(int32(req.tries))
		p.res.settle(req.r, PublishResult{Attempts: req.tries}, nil)
		w.finish(req)
		return
	}
	if cc.ch.IsClosed() {
		cerr := cc.closeError()
		if exchangeMissing(cerr, req.exchange) {
			w.failedAttempt(req, fmt.Errorf("%w: %q: %w", ErrExchangeNotFound, req.exchange, cerr))
			return
		}
		if cerr == nil {
			cerr = amqp091.ErrClosed
		}
		req.r.setCause(cerr)
		if p.stopped() || req.r.settled() {
			w.abandon(req)
			return
		}
		p.stats.resent.Add(1)
		req.notBefore = time.Time{}
		w.retry <- req
		return
	}
	p.stats.nacked.Add(1)
	w.failedAttempt(req, ErrNacked)
}

// failedAttempt counts an attempt the broker refused and schedules the
// next one, or settles req with err when none are left.
func (w *worker) failedAttempt(req *request, err error) {
	p := w.p
	req.tries++
	req.r.attempts.Store(int32(req.tries))
	req.r.setCause(err)
	if req.tries >= p.cfg.Retry.MaxAttempts || req.r.settled() || p.stopped() {
		p.res.settle(req.r, PublishResult{}, req.r.failure(err))
		w.finish(req)
		return
	}
	p.stats.retried.Add(1)
	req.notBefore = time.Now().Add(p.cfg.Retry.Delay(req.tries))
	w.retry <- req
}

// abandon settles req with ErrClosed (unless it already settled) and
// releases it.
func (w *worker) abandon(req *request) {
	w.p.res.settle(req.r, PublishResult{}, req.r.failure(ErrClosed))
	w.finish(req)
}

// finish releases req's slot.
func (w *worker) finish(req *request) {
	req.pub = amqp091.Publishing{}
	<-w.slots
	w.p.finished()
}

func (cc *confirmChannel) noteReturn(ret amqp091.Return) {
	seq, ok := toInt64(ret.Headers[headerPublishSeq])
	if !ok {
		return
	}
	cc.returned[seq] = &ReturnedError{Code: ret.ReplyCode, Text: ret.ReplyText, Exchange: ret.Exchange, RoutingKey: ret.RoutingKey}
}

// drainReturns records the returns already delivered: the broker sends a
// message's return before its confirm, and amqp091 hands it over before
// resolving the confirm.
func (cc *confirmChannel) drainReturns() {
	for cc.returns != nil {
		select {
		case ret, ok := <-cc.returns:
			if !ok {
				cc.returns = nil
				return
			}
			cc.noteReturn(ret)
		default:
			return
		}
	}
}

// closeError returns why the (closed) channel closed, nil for a clean
// close. amqp091 reports the reason before it nacks the pending confirms,
// so this does not wait.
func (cc *confirmChannel) closeError() error {
	if !cc.closeKnown {
		if e, ok := <-cc.closes; ok && e != nil {
			cc.closeErr = e
		}
		cc.closeKnown = true
	}
	return cc.closeErr
}

// exchangeMissing reports a channel closed because exchange does not exist.
func exchangeMissing(err error, exchange string) bool {
	var ae *amqp091.Error
	return errors.As(err, &ae) && ae.Code == amqp091.NotFound &&
		strings.Contains(ae.Reason, "exchange '"+exchange+"'")
}

// retryHeap orders requests waiting to be sent by time, then publish order.
type retryHeap []*request

func (h retryHeap) Len() int { return len(h) }
func (h retryHeap) Less(i, j int) bool {
	if !h[i].notBefore.Equal(h[j].notBefore) {
		return h[i].notBefore.Before(h[j].notBefore)
	}
	return h[i].r.seq < h[j].r.seq
}
func (h retryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *retryHeap) Push(x any)   { r := x.(*request); r.index = len(*h); *h = append(*h, r) }
func (h *retryHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}
