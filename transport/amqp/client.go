package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Client owns a pool of connections to one broker. It keeps them alive:
// when one is lost it reconnects with jittered backoff, declares the
// topology again and lets the publishers and consumers built on it carry on.
// Build Publishers and Consumers from it with NewPublisher and NewConsumer.
//
// A Client is safe for concurrent use. It starts one supervisor goroutine
// per open connection, one health-check goroutine and, when
// Config.OnStateChange is set, one goroutine that runs the callback.
type Client struct {
	cfg       Config
	addresses []string // Config.URL then Config.URLs
	slots     []*slot
	notifier  *notifier

	mu        sync.Mutex
	topology  Topology // Config.Topology and what Declare added; owned, never the caller's slices
	closed    bool
	publisher map[*Publisher]struct{}
	consumer  map[*Consumer]Topology // each started consumer and its own queues

	closing        chan struct{}
	done           chan struct{}
	wg             sync.WaitGroup
	reconnects     atomic.Uint64
	borrowTimeouts atomic.Uint64
	next           atomic.Uint64

	healthHook atomic.Pointer[func()] // tests only: called after each health sweep
}

// Dial connects to the broker: it opens Config.MinConnections connections,
// declares Config.Topology on them and returns once they are all up. It
// fails at once, without dialling, with ErrInvalidConfig for a config that
// makes no sense or a malformed URL, and after the first attempt when
// every broker refused in a way a retry cannot fix (login, vhost,
// topology, TLS certificate; RabbitMQ itself delays its answer to a bad
// password by about 3 s). Errors a retry can fix (connection refused or
// reset, timeouts, a broker starting up) are retried with backoff until
// ctx is done. Close the Client when done.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		addresses: cfg.addresses(),
		topology:  cfg.Topology.clone(),
		publisher: map[*Publisher]struct{}{},
		consumer:  map[*Consumer]Topology{},
		closing:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	c.notifier = newNotifier(cfg.OnStateChange, cfg.StateBufferSize)
	c.slots = make([]*slot, cfg.MaxConnections)
	for i := range c.slots {
		c.slots[i] = newSlot(c, i)
	}
	c.wg.Add(1)
	go c.healthLoop()
	for _, s := range c.slots[:cfg.MinConnections] {
		s.start()
	}
	for _, s := range c.slots[:cfg.MinConnections] {
		var first error
		select {
		case first = <-s.first:
		case <-ctx.Done():
			_ = c.Close(context.Background())
			return nil, fmt.Errorf("amqp: dial %s: %w", redact(cfg.addresses()[0]), ctx.Err())
		}
		if first == nil {
			continue
		}
		if permanent(first) {
			_ = c.Close(context.Background())
			return nil, fmt.Errorf("amqp: dial: %w", first)
		}
		if _, err := s.wait(ctx); err != nil {
			_ = c.Close(context.Background())
			return nil, fmt.Errorf("amqp: dial: %w", err)
		}
	}
	return c, nil
}

// Declare declares t now and adds it to the topology declared again after
// every reconnection (items already recorded under the same name are not
// added twice). Nothing is recorded if the declaration fails. The Client
// keeps copies: t's slices are neither kept nor written to.
func (c *Client) Declare(ctx context.Context, t Topology) error {
	if err := c.declareNow(ctx, t); err != nil {
		return err
	}
	c.mu.Lock()
	c.topology.add(t)
	c.mu.Unlock()
	return nil
}

// declareNow declares t on the first connection, where exclusive queues
// live, without recording it.
func (c *Client) declareNow(ctx context.Context, t Topology) error {
	if err := t.validate(); err != nil {
		return err
	}
	if c.isClosed() {
		return ErrClosed
	}
	return c.withChannel(ctx, t.declare)
}

// Delete removes queues and exchanges, ignoring those that do not exist,
// and forgets them so reconnections no longer declare them. It is meant for
// tests and tools that clean up after themselves.
func (c *Client) Delete(ctx context.Context, queues, exchanges []string) error {
	c.mu.Lock()
	c.topology = c.topology.without(queues, exchanges)
	for k, t := range c.consumer {
		c.consumer[k] = t.without(queues, exchanges)
	}
	c.mu.Unlock()
	var errs []error
	for _, q := range queues {
		errs = append(errs, c.withChannel(ctx, func(ch *amqp091.Channel) error {
			_, err := ch.QueueDelete(q, false, false, false)
			return err
		}))
	}
	for _, e := range exchanges {
		errs = append(errs, c.withChannel(ctx, func(ch *amqp091.Channel) error {
			return ch.ExchangeDelete(e, false, false)
		}))
	}
	return errors.Join(errs...)
}

// withChannel runs fn on a pooled channel of the first connection, the one
// that owns the exclusive queues.
func (c *Client) withChannel(ctx context.Context, fn func(*amqp091.Channel) error) error {
	pc, err := c.slots[0].borrow(ctx)
	if err != nil {
		return err
	}
	defer pc.release()
	return fn(pc.ch)
}

// assignHome pins a long-lived channel to the first connection: consumers
// of exclusive queues, which only that connection may use.
func (c *Client) assignHome() *slot {
	s := c.slots[0]
	s.mu.Lock()
	s.users++
	s.mu.Unlock()
	s.start()
	return s
}

// assign picks the connection with the fewest long-lived channels for a
// new publisher worker or consumer, opening it if needed.
func (c *Client) assign() *slot {
	c.mu.Lock()
	best := c.slots[0]
	for _, s := range c.slots[1:] {
		s.mu.Lock()
		n := s.users
		s.mu.Unlock()
		best.mu.Lock()
		b := best.users
		best.mu.Unlock()
		if n < b {
			best = s
		}
	}
	best.mu.Lock()
	best.users++
	best.mu.Unlock()
	c.mu.Unlock()
	best.start()
	return best
}

func (c *Client) unassign(s *slot) {
	s.mu.Lock()
	s.users--
	s.mu.Unlock()
}

// topologySnapshot is everything to declare on a new connection: the
// recorded topology plus the queues of the consumers started now.
func (c *Client) topologySnapshot() Topology {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.consumer) == 0 {
		return c.topology
	}
	t := c.topology.clone()
	for _, kt := range c.consumer {
		t.add(kt)
	}
	return t
}

func (c *Client) isClosed() bool { return isClosed(c.closing) }

func (c *Client) healthLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.HealthCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			for _, s := range c.slots {
				s.healthCheck()
			}
			if h := c.healthHook.Load(); h != nil {
				(*h)()
			}
		case <-c.closing:
			return
		}
	}
}

// State is Connected when every open connection is, Closed after Close,
// and otherwise Connecting (never connected yet) or Reconnecting.
func (c *Client) State() State {
	if c.isClosed() {
		return StateClosed
	}
	agg := StateConnected
	for _, s := range c.slots {
		s.mu.Lock()
		st, started := s.state, s.started
		s.mu.Unlock()
		if !started || st == StateConnected {
			continue
		}
		if st == StateReconnecting || agg == StateConnected {
			agg = st
		}
	}
	return agg
}

// ClientStats is a snapshot of a Client's pools.
type ClientStats struct {
	State          State
	Connections    int // connected now
	MaxConnections int // pool size
	// IdleConnections are connected but carry nothing now: no publisher
	// worker or consumer, no borrowed channel.
	IdleConnections   int
	LongLivedChannels int // publisher workers and consumers assigned to connections
	IdleChannels      int // pooled channels ready for reuse
	// BorrowedChannels are pooled channels in use now (declarations,
	// retry and dead-letter publishes).
	BorrowedChannels    int
	BorrowTimeouts      uint64 // borrows that failed with ErrBorrowTimeout
	ChannelsOpened      uint64 // pooled channels opened
	ChannelsReused      uint64 // borrows served by an idle pooled channel
	ChannelsDiscarded   uint64 // pooled channels dropped as broken or surplus
	Reconnects          uint64 // connections lost and re-established or being re-established
	StateChangesDropped uint64 // changes not passed to OnStateChange because it fell behind
}

// Stats returns a snapshot.
func (c *Client) Stats() ClientStats {
	st := ClientStats{
		State:               c.State(),
		MaxConnections:      len(c.slots),
		Reconnects:          c.reconnects.Load(),
		StateChangesDropped: c.notifier.dropped.Load(),
		BorrowTimeouts:      c.borrowTimeouts.Load(),
	}
	for _, s := range c.slots {
		borrowed := int(s.borrowed.Load())
		st.BorrowedChannels += borrowed
		s.mu.Lock()
		if s.gen != nil {
			st.Connections++
			if s.users == 0 && borrowed == 0 {
				st.IdleConnections++
			}
		}
		st.LongLivedChannels += s.users
		st.IdleChannels += len(s.idle)
		s.mu.Unlock()
		st.ChannelsOpened += s.opened.Load()
		st.ChannelsReused += s.reused.Load()
		st.ChannelsDiscarded += s.discarded.Load()
	}
	return st
}

// Close stops the consumers and closes the publishers built on this client
// (each within ctx), then closes every connection and waits for the
// client's goroutines. It returns ctx.Err() if time runs out. Calling it
// again waits for the first call's work and returns nil.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		select {
		case <-c.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.closed = true
	consumers := make([]*Consumer, 0, len(c.consumer))
	for k := range c.consumer {
		consumers = append(consumers, k)
	}
	publishers := make([]*Publisher, 0, len(c.publisher))
	for k := range c.publisher {
		publishers = append(publishers, k)
	}
	c.mu.Unlock()

	var errs []error
	for _, k := range consumers {
		if err := k.Stop(ctx); err != nil && !errors.Is(err, ErrNotStarted) && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, p := range publishers {
		if err := p.Close(ctx); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	close(c.closing)
	waited := make(chan struct{})
	go func() {
		c.wg.Wait()
		c.notifier.stop()
		<-c.notifier.done
		close(waited)
		close(c.done)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// register records a publisher or a started consumer, with the topology
// the consumer declared for itself; unregister forgets it.
func (c *Client) register(p *Publisher, k *Consumer, own Topology) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if p != nil {
		c.publisher[p] = struct{}{}
	}
	if k != nil {
		c.consumer[k] = own.clone()
	}
	return nil
}

// addOwn adds t to what is declared again for started consumer k.
func (c *Client) addOwn(k *Consumer, t Topology) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if own, ok := c.consumer[k]; ok {
		own.add(t)
		c.consumer[k] = own
	}
}

func (c *Client) unregister(p *Publisher, k *Consumer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.publisher, p)
	delete(c.consumer, k)
}

func (c *Client) logWarn(msg string, args ...any) {
	if c.cfg.Logger != nil {
		c.cfg.Logger.Warn(msg, args...)
	}
}

// redact hides the password of an AMQP URL.
func redact(raw string) string {
	u, err := amqp091.ParseURI(raw)
	if err != nil {
		if raw == "" {
			return "<empty URL>"
		}
		return "<invalid URL>"
	}
	if u.Password != "" {
		u.Password = "xxxxx"
	}
	return u.String()
}

// redeclare declares the whole recorded topology again, for a consumer
// that found its queue gone while the connection stayed up.
func (c *Client) redeclare(ctx context.Context) error {
	t := c.topologySnapshot()
	if t.empty() {
		return nil
	}
	return c.withChannel(ctx, t.declare)
}
