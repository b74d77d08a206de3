package amqp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// connGen is one live connection of a slot. lost closes when it is gone;
// a reconnection creates a new connGen.
type connGen struct {
	conn *amqp091.Connection
	url  string // redacted address of the broker it is connected to
	lost chan struct{}
}

// slot is one place in the connection pool. Its supervisor goroutine dials,
// declares the topology, publishes the connection, waits for its loss and
// starts again with jittered backoff, until the client closes.
type slot struct {
	c   *Client
	idx int

	mu      sync.Mutex
	started bool
	state   State
	gen     *connGen      // nil while disconnected
	ready   chan struct{} // closed when gen becomes non-nil
	users   int           // long-lived channels assigned here
	idle    []*pooledChannel
	lastErr error
	first   chan error // receives the outcome of the first attempt, for Dial

	sem      chan struct{} // one per borrowed channel, MaxBorrowedChannels places
	borrowed atomic.Int64

	opened, reused, discarded atomic.Uint64
}

func newSlot(c *Client, idx int) *slot {
	return &slot{c: c, idx: idx, ready: make(chan struct{}), first: make(chan error, 1),
		sem: make(chan struct{}, c.cfg.MaxBorrowedChannels)}
}

// start runs the supervisor once. The caller holds no lock.
func (s *slot) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	select {
	case <-s.c.closing:
		return
	default:
	}
	s.started = true
	s.c.wg.Add(1)
	go s.supervise()
}

// current returns the live connection, or nil and a channel that closes
// when one is available.
func (s *slot) current() (*connGen, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, s.ready
}

// wait blocks until the slot is connected, ctx is done or the client closes.
func (s *slot) wait(ctx context.Context) (*connGen, error) {
	s.start()
	for {
		gen, ready := s.current()
		if gen != nil {
			return gen, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			s.mu.Lock()
			last := s.lastErr
			s.mu.Unlock()
			if last != nil {
				return nil, fmt.Errorf("amqp: not connected (last error: %v): %w", last, ctx.Err())
			}
			return nil, fmt.Errorf("amqp: not connected: %w", ctx.Err())
		case <-s.c.closing:
			return nil, ErrClosed
		}
	}
}

func (s *slot) supervise() {
	defer s.c.wg.Done()
	attempt := 0
	firstDone := false
	for {
		gen, err := s.connect()
		if err != nil {
			if !firstDone {
				firstDone = true
				s.first <- err
			}
			attempt++
			s.mu.Lock()
			s.lastErr = err
			st := s.state
			s.mu.Unlock()
			var url string
			if ce, ok := err.(*connectError); ok {
				url = ce.url
			}
			s.c.notifier.notify(StateChange{Connection: s.idx, From: st, To: st, Err: err, URL: url, At: time.Now()})
			s.c.logWarn("amqp: connection attempt failed", "connection", s.idx, "attempt", attempt, "error", err)
			t := time.NewTimer(s.c.cfg.Reconnect.Jittered(attempt))
			select {
			case <-t.C:
				continue
			case <-s.c.closing:
				t.Stop()
				s.setClosed()
				return
			}
		}
		attempt = 0
		closed := gen.conn.NotifyClose(make(chan *amqp091.Error, 1))
		s.mu.Lock()
		select {
		case <-s.c.closing:
			s.mu.Unlock()
			_ = gen.conn.Close()
			s.setClosed()
			return
		default:
		}
		prev := s.state
		s.gen, s.state, s.lastErr = gen, StateConnected, nil
		close(s.ready)
		s.mu.Unlock()
		if !firstDone {
			firstDone = true
			s.first <- nil
		}
		s.c.notifier.notify(StateChange{Connection: s.idx, From: prev, To: StateConnected, URL: gen.url, At: time.Now()})

		var lossErr error
		select {
		case e, ok := <-closed:
			if ok && e != nil {
				lossErr = e
			} else {
				lossErr = amqp091.ErrClosed
			}
		case <-s.c.closing:
			s.detach(gen)
			_ = gen.conn.Close()
			close(gen.lost)
			s.setClosed()
			return
		}
		s.detach(gen)
		close(gen.lost)
		s.c.reconnects.Add(1)
		s.mu.Lock()
		s.state, s.lastErr = StateReconnecting, lossErr
		s.mu.Unlock()
		s.c.notifier.notify(StateChange{Connection: s.idx, From: StateConnected, To: StateReconnecting, Err: lossErr, URL: gen.url, At: time.Now()})
		s.c.logWarn("amqp: connection lost, reconnecting", "connection", s.idx, "url", gen.url, "error", lossErr)
	}
}

// detach forgets gen and its idle channels and prepares a new ready signal.
func (s *slot) detach(gen *connGen) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	s.gen = nil
	s.ready = make(chan struct{})
	s.discarded.Add(uint64(len(s.idle)))
	clear(s.idle)
	s.idle = s.idle[:0]
}

func (s *slot) setClosed() {
	s.mu.Lock()
	prev := s.state
	s.state = StateClosed
	s.mu.Unlock()
	if prev != StateClosed {
		s.c.notifier.notify(StateChange{Connection: s.idx, From: prev, To: StateClosed, At: time.Now()})
	}
}

// connect tries each broker address in order until one connects and
// takes the topology. When all fail it returns a *connectError.
func (s *slot) connect() (*connGen, error) {
	ce := &connectError{permanent: true}
	for _, u := range s.c.addresses {
		gen, err := s.connectTo(u)
		if err == nil {
			return gen, nil
		}
		ce.errs = append(ce.errs, fmt.Errorf("%s: %w", redact(u), err))
		ce.permanent = ce.permanent && isPermanentDialError(err)
		ce.url = redact(u)
	}
	return nil, ce
}

// connectError is a failed round over every broker address.
type connectError struct {
	errs      []error
	url       string // the last address tried
	permanent bool   // every address failed in a way a retry cannot fix
}

func (e *connectError) Error() string   { return errors.Join(e.errs...).Error() }
func (e *connectError) Unwrap() []error { return e.errs }

// permanent reports a connection failure that retrying cannot fix.
func permanent(err error) bool {
	var ce *connectError
	return errors.As(err, &ce) && ce.permanent
}

// isPermanentDialError reports what a retry cannot fix: the broker refused
// the login, the vhost or the topology, or the TLS certificate.
func isPermanentDialError(err error) bool {
	if errors.Is(err, amqp091.ErrSASL) || errors.Is(err, amqp091.ErrCredentials) || errors.Is(err, amqp091.ErrVhost) {
		return true
	}
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return true
	}
	var ae *amqp091.Error
	if errors.As(err, &ae) && ae.Server {
		switch ae.Code {
		case amqp091.ConnectionForced, amqp091.InternalError, amqp091.ResourceError, amqp091.FrameError:
			return false // the broker is shutting down, overloaded or confused
		}
		return true
	}
	return false
}

// connectTo dials one broker and declares the topology on the connection.
func (s *slot) connectTo(url string) (*connGen, error) {
	cfg := s.c.cfg
	conn, err := amqp091.DialConfig(url, amqp091.Config{
		Heartbeat:       cfg.Heartbeat,
		TLSClientConfig: cfg.TLS,
		Properties:      Table{"connection_name": cfg.Name + "#" + strconv.Itoa(s.idx)},
		Dial:            amqp091.DefaultDial(cfg.DialTimeout),
	})
	if err != nil {
		return nil, err
	}
	t := s.c.topologySnapshot()
	if s.idx != 0 {
		t = t.withoutExclusive() // they belong to the first connection
	}
	if !t.empty() {
		ch, err := conn.Channel()
		if err == nil {
			err = t.declare(ch)
			if err == nil {
				err = ch.Close()
			}
		}
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	return &connGen{conn: conn, url: redact(url), lost: make(chan struct{})}, nil
}

// borrow takes a healthy confirm-mode channel from the pool, or opens one.
// It waits, up to BorrowTimeout and ctx, for a connection and for one of
// the MaxBorrowedChannels places.
func (s *slot) borrow(parent context.Context) (*pooledChannel, error) {
	ctx, cancel := context.WithTimeout(parent, s.c.cfg.BorrowTimeout)
	defer cancel()
	fail := func(err error) (*pooledChannel, error) {
		if parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.c.borrowTimeouts.Add(1)
			return nil, fmt.Errorf("%w (%v): %w", ErrBorrowTimeout, s.c.cfg.BorrowTimeout, err)
		}
		return nil, err
	}
	select {
	case s.sem <- struct{}{}:
	default:
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return fail(fmt.Errorf("all %d channels of connection %d are borrowed: %w", cap(s.sem), s.idx, ctx.Err()))
		case <-s.c.closing:
			return nil, ErrClosed
		}
	}
	pc, err := s.take(ctx)
	if err != nil {
		<-s.sem
		return fail(err)
	}
	s.borrowed.Add(1)
	return pc, nil
}

// take is borrow once a place is held.
func (s *slot) take(ctx context.Context) (*pooledChannel, error) {
	for {
		gen, err := s.wait(ctx)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		for len(s.idle) > 0 && s.gen == gen {
			pc := s.idle[len(s.idle)-1]
			s.idle[len(s.idle)-1] = nil
			s.idle = s.idle[:len(s.idle)-1]
			if pc.ch.IsClosed() {
				s.discarded.Add(1)
				continue
			}
			s.mu.Unlock()
			s.reused.Add(1)
			return pc, nil
		}
		s.mu.Unlock()
		ch, err := gen.conn.Channel()
		if err == nil {
			if err = ch.Confirm(false); err != nil {
				_ = ch.Close()
			}
		}
		if err != nil {
			if !gen.conn.IsClosed() {
				return nil, fmt.Errorf("amqp: open channel: %w", err)
			}
			select { // reconnecting: wait for the next connection
			case <-gen.lost:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		s.opened.Add(1)
		return &pooledChannel{
			ch:      ch,
			gen:     gen,
			slot:    s,
			returns: ch.NotifyReturn(make(chan amqp091.Return, 8)),
			closes:  ch.NotifyClose(make(chan *amqp091.Error, 1)),
		}, nil
	}
}

// pooledChannel is a confirm-mode channel borrowed from a slot.
type pooledChannel struct {
	ch      *amqp091.Channel
	gen     *connGen
	slot    *slot
	returns chan amqp091.Return
	closes  chan *amqp091.Error // why the broker closed it; closed with it
}

// release returns the channel to the pool if it is healthy and there is
// room, and closes it otherwise.
func (pc *pooledChannel) release() {
	s := pc.slot
	defer func() {
		s.borrowed.Add(-1)
		<-s.sem
	}()
	pc.takeReturn() // forget a return nobody waited for
	s.mu.Lock()
	if !pc.ch.IsClosed() && s.gen == pc.gen && len(s.idle) < s.c.cfg.ChannelPoolSize {
		s.idle = append(s.idle, pc)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.discarded.Add(1)
	_ = pc.ch.Close()
}

// healthCheck drops idle channels that have closed (the broker closed them,
// or their connection went away) and forgets a connection that is closed.
// It sends nothing to the broker: heartbeats detect a dead peer.
func (s *slot) healthCheck() {
	s.mu.Lock()
	kept := s.idle[:0]
	for _, pc := range s.idle {
		if pc.ch.IsClosed() {
			s.discarded.Add(1)
			continue
		}
		kept = append(kept, pc)
	}
	clear(s.idle[len(kept):])
	s.idle = kept
	gen := s.gen
	s.mu.Unlock()
	if gen != nil && gen.conn.IsClosed() {
		// The supervisor learns of it through NotifyClose; nothing to do
		// but make sure no one borrows from it meanwhile.
		s.detach(gen)
	}
}

// isConnectionLoss reports errors that mean the channel or connection went
// away rather than that the broker refused something.
func isConnectionLoss(err error) bool {
	var ne net.Error
	if errors.Is(err, amqp091.ErrClosed) || errors.As(err, &ne) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ae *amqp091.Error
	if errors.As(err, &ae) {
		return ae.Code == amqp091.ConnectionForced || ae.Code == amqp091.FrameError ||
			ae.Code == amqp091.InternalError || !ae.Server
	}
	return false
}

// publish sends one message on the pooled channel, mandatory, and waits
// for its confirm: nil only when the broker confirmed it and did not
// return it.
func (pc *pooledChannel) publish(ctx context.Context, exchange, key string, pub amqp091.Publishing) error {
	dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, pub)
	if err != nil {
		return err
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		// A late confirm or return must not reach the next borrower.
		_ = pc.ch.Close()
		return ctx.Err()
	}
	ret := pc.takeReturn()
	switch {
	case !dc.Acked() && pc.ch.IsClosed():
		// amqp091 reports the reason (404 for a missing exchange…) and
		// closes closes before it nacks the pending confirms.
		if e, ok := <-pc.closes; ok && e != nil {
			return fmt.Errorf("amqp: channel closed before the confirm: %w", e)
		}
		return fmt.Errorf("amqp: channel closed before the confirm: %w", amqp091.ErrClosed)
	case !dc.Acked():
		return ErrNacked
	case ret != nil:
		return &ReturnedError{Code: ret.ReplyCode, Text: ret.ReplyText, Exchange: ret.Exchange, RoutingKey: ret.RoutingKey}
	}
	return nil
}

// takeReturn returns a return already delivered for this channel, if any.
// The broker sends a message's return before its confirm.
func (pc *pooledChannel) takeReturn() *amqp091.Return {
	select {
	case r, ok := <-pc.returns:
		if ok {
			return &r
		}
	default:
	}
	return nil
}
