// Package brokertest is the conformance suite for bus.Broker
// implementations: the in-memory broker runs it, and so does every broker
// transport, so that the bus's guarantees hold on each of them.
//
//	func TestBroker(t *testing.T) {
//		brokertest.Run(t, func(t *testing.T) bus.Broker { return newTestBroker(t) })
//	}
//
// The suite allows asynchronous brokers: after an Append it waits for the
// consumer's notify (up to Timeout) before it expects Next to return the
// message. A durable broker, whose consumer groups outlive their consumers
// and are shared by several broker instances (processes), also runs
// RunDurable.
package brokertest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
)

// Timeout bounds every wait of the suite.
var Timeout = 10 * time.Second

// consumer is an attached cursor and its notifications.
type consumer struct {
	bus.Cursor
	notified chan bus.Message
}

func attach(t *testing.T, p bus.Partition, name string) *consumer {
	t.Helper()
	c := &consumer{notified: make(chan bus.Message, 1024)}
	cur, err := p.Attach(name, func(m bus.Message) {
		select {
		case c.notified <- m:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Cursor = cur
	return c
}

// next returns the next message, waiting for a notification if there is
// none yet.
func (c *consumer) next(t *testing.T) bus.Message {
	t.Helper()
	deadline := time.After(Timeout)
	for {
		if m, ok := c.Next(); ok {
			return m
		}
		select {
		case <-c.notified:
		case <-deadline:
			t.Fatal("no message arrived")
		}
	}
}

// waitNotified waits for n notifications.
func (c *consumer) waitNotified(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(Timeout)
	for i := range n {
		select {
		case <-c.notified:
		case <-deadline:
			t.Fatalf("notification %d of %d missing", i+1, n)
		}
	}
}

func appendN(t *testing.T, p bus.Partition, n int) {
	t.Helper()
	for i := range n {
		if _, err := p.Append(context.Background(), bus.Message{Event: shared.NewBaseEvent(evID(i), "x", nil)}, false); err != nil {
			t.Fatal(err)
		}
	}
}

func evID(i int) string { return "e" + strconv.Itoa(i) }

// Run checks the contract of bus.Broker, bus.Partition and bus.Cursor on
// partitions from newBroker, called once per subtest.
func Run(t *testing.T, newBroker func(t *testing.T) bus.Broker) {
	open := func(t *testing.T, capacity int) bus.Partition {
		t.Helper()
		p, err := newBroker(t).OpenPartition(strings.ReplaceAll(t.Name(), "/", "."), 0, capacity)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	full := func(p bus.Partition) bool {
		_, err := p.Append(context.Background(), bus.Message{Event: shared.NewBaseEvent("over", "x", nil)}, false)
		return errors.Is(err, bus.ErrBufferFull)
	}

	t.Run("each consumer reads every message in order", func(t *testing.T) {
		p := open(t, 8)
		a, b := attach(t, p, "a"), attach(t, p, "b")
		appendN(t, p, 3)
		for _, c := range []*consumer{a, b} {
			for i := range 3 {
				if m := c.next(t); m.Event.ID() != evID(i) {
					t.Fatalf("message %d is %s, want %s", i, m.Event.ID(), evID(i))
				}
			}
		}
	})
	t.Run("append reports the consumers attached", func(t *testing.T) {
		p := open(t, 8)
		if n, err := p.Append(context.Background(), bus.Message{Event: shared.NewBaseEvent("1", "x", nil)}, false); err != nil || n != 0 {
			t.Fatalf("Append with no consumer = %d, %v; want 0, nil", n, err)
		}
		attach(t, p, "a")
		attach(t, p, "b")
		if n, err := p.Append(context.Background(), bus.Message{Event: shared.NewBaseEvent("2", "x", nil)}, false); err != nil || n != 2 {
			t.Fatalf("Append with two consumers = %d, %v; want 2, nil", n, err)
		}
	})
	t.Run("room comes back only when every consumer acknowledged", func(t *testing.T) {
		p := open(t, 2)
		a, b := attach(t, p, "a"), attach(t, p, "b")
		appendN(t, p, 2)
		if !full(p) {
			t.Fatal("a partition of 2 took a third message")
		}
		a.Ack(a.next(t).Seq)
		if !full(p) {
			t.Fatal("room appeared before the second consumer acknowledged")
		}
		b.Ack(b.next(t).Seq)
		if full(p) {
			t.Fatal("no room after both acknowledged")
		}
	})
	t.Run("a full partition wakes a waiting publisher when room appears", func(t *testing.T) {
		p := open(t, 1)
		c := attach(t, p, "a")
		appendN(t, p, 1)
		done := make(chan error, 1)
		go func() {
			_, err := p.Append(context.Background(), bus.Message{Event: shared.NewBaseEvent("2", "x", nil)}, true)
			done <- err
		}()
		c.Ack(c.next(t).Seq)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(Timeout):
			t.Fatal("the waiting Append was not woken")
		}
	})
	t.Run("a waiting publisher gives up when its context ends", func(t *testing.T) {
		p := open(t, 1)
		attach(t, p, "a")
		appendN(t, p, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if _, err := p.Append(ctx, bus.Message{Event: shared.NewBaseEvent("2", "x", nil)}, true); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Append = %v, want the context's error", err)
		}
	})
	t.Run("out-of-order acknowledgements free room once contiguous", func(t *testing.T) {
		p := open(t, 3)
		c := attach(t, p, "a")
		appendN(t, p, 3)
		m0, m1, m2 := c.next(t), c.next(t), c.next(t)
		c.Ack(m2.Seq)
		c.Ack(m1.Seq)
		if !full(p) {
			t.Fatal("room appeared while the oldest message is unacknowledged")
		}
		c.Ack(m0.Seq)
		if full(p) {
			t.Fatal("no room after every message was acknowledged")
		}
	})
	t.Run("a nacked message is delivered again before newer ones", func(t *testing.T) {
		p := open(t, 4)
		c := attach(t, p, "a")
		appendN(t, p, 2)
		m0 := c.next(t)
		c.Nack(m0.Seq)
		if again := c.next(t); again.Event.ID() != m0.Event.ID() {
			t.Fatalf("after Nack, next is %s, want %s again", again.Event.ID(), m0.Event.ID())
		}
	})
	t.Run("detaching frees what the consumer held", func(t *testing.T) {
		p := open(t, 2)
		c := attach(t, p, "a")
		appendN(t, p, 2)
		c.Detach()
		c.Detach() // harmless
		if full(p) {
			t.Fatal("a detached consumer still holds room")
		}
	})
	t.Run("close refuses appends and reports drained once settled", func(t *testing.T) {
		p := open(t, 4)
		c := attach(t, p, "a")
		appendN(t, p, 1)
		p.Close()
		p.Close() // harmless
		if _, err := p.Append(context.Background(), bus.Message{Event: shared.NewBaseEvent("x", "x", nil)}, true); !errors.Is(err, bus.ErrClosed) {
			t.Fatalf("Append after Close = %v, want ErrClosed", err)
		}
		select {
		case <-p.Drained():
			t.Fatal("drained with a message unacknowledged")
		default:
		}
		c.Ack(c.next(t).Seq)
		select {
		case <-p.Drained():
		case <-time.After(Timeout):
			t.Fatal("not drained after the last acknowledgement")
		}
	})
	t.Run("close wakes a waiting publisher with ErrClosed", func(t *testing.T) {
		p := open(t, 1)
		attach(t, p, "a")
		appendN(t, p, 1)
		started := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			close(started)
			_, err := p.Append(context.Background(), bus.Message{Event: shared.NewBaseEvent("2", "x", nil)}, true)
			done <- err
		}()
		<-started
		// The publisher waits for room that never comes (or, if it has not
		// started waiting yet, finds the partition closed): either way
		// Close must end its Append with ErrClosed.
		select {
		case err := <-done:
			t.Fatalf("Append on a full partition returned %v before Close", err)
		default:
		}
		p.Close()
		select {
		case err := <-done:
			if !errors.Is(err, bus.ErrClosed) {
				t.Fatalf("waiting Append after Close = %v, want ErrClosed", err)
			}
		case <-time.After(Timeout):
			t.Fatal("Close did not wake the waiting Append")
		}
	})
	t.Run("depth and backlog count what is unsettled and unread", func(t *testing.T) {
		p := open(t, 8)
		a, b := attach(t, p, "a"), attach(t, p, "b")
		if d := p.Depth(); d != 0 {
			t.Fatalf("Depth of an empty partition = %d", d)
		}
		appendN(t, p, 3)
		if d := p.Depth(); d != 3 {
			t.Fatalf("Depth after 3 appends = %d, want 3", d)
		}
		a.waitNotified(t, 3)
		b.waitNotified(t, 3)
		if n := a.Backlog(); n != 3 {
			t.Fatalf("Backlog before any Next = %d, want 3", n)
		}
		m0 := a.next(t)
		if n := a.Backlog(); n != 2 {
			t.Fatalf("Backlog after one Next = %d, want 2", n)
		}
		a.Ack(m0.Seq)
		if d := p.Depth(); d != 3 {
			t.Fatalf("Depth with the second consumer behind = %d, want 3", d)
		}
		b.Ack(b.next(t).Seq)
		if d := p.Depth(); d != 2 {
			t.Fatalf("Depth after both settled the first message = %d, want 2", d)
		}
		m1 := a.next(t)
		a.Nack(m1.Seq)
		if n := a.Backlog(); n != 2 {
			t.Fatalf("Backlog after a Nack = %d, want 2 (the nacked message and the last)", n)
		}
	})
	t.Run("detaching the last holder drains a closed partition", func(t *testing.T) {
		p := open(t, 4)
		a, b := attach(t, p, "a"), attach(t, p, "b")
		appendN(t, p, 2)
		a.Ack(a.next(t).Seq)
		a.Ack(a.next(t).Seq)
		b.next(t) // read, never settled
		p.Close()
		select {
		case <-p.Drained():
			t.Fatal("drained while a consumer holds unsettled messages")
		default:
		}
		b.Detach()
		select {
		case <-p.Drained():
		case <-time.After(Timeout):
			t.Fatal("not drained after the consumer holding messages detached")
		}
	})
	t.Run("a consumer sees only messages appended after it attached", func(t *testing.T) {
		p := open(t, 8)
		early := attach(t, p, "early")
		appendN(t, p, 2)
		late := attach(t, p, "late")
		if _, err := p.Append(context.Background(), bus.Message{Event: shared.NewBaseEvent("after", "x", nil)}, false); err != nil {
			t.Fatal(err)
		}
		if m := late.next(t); m.Event.ID() != "after" {
			t.Fatalf("late consumer's first message is %s, want the one appended after Attach", m.Event.ID())
		}
		if m, ok := late.Next(); ok {
			t.Fatalf("late consumer got %s as well", m.Event.ID())
		}
		if n := late.Backlog(); n != 0 {
			t.Fatalf("late consumer's Backlog = %d, want 0", n)
		}
		for i := range 2 {
			if m := early.next(t); m.Event.ID() != evID(i) {
				t.Fatalf("early consumer's message %d is %s, want %s", i, m.Event.ID(), evID(i))
			}
		}
	})
	t.Run("nack of an acknowledged message is ignored", func(t *testing.T) {
		p := open(t, 4)
		c := attach(t, p, "a")
		appendN(t, p, 2)
		m0 := c.next(t)
		c.Ack(m0.Seq)
		c.Nack(m0.Seq)
		if m := c.next(t); m.Event.ID() != evID(1) {
			t.Fatalf("after Ack then Nack, next is %s, want %s (the acknowledged one not again)", m.Event.ID(), evID(1))
		}
		if m, ok := c.Next(); ok {
			t.Fatalf("the acknowledged message came back: %s", m.Event.ID())
		}
		if n := c.Backlog(); n != 0 {
			t.Fatalf("Backlog = %d, want 0", n)
		}
		if d := p.Depth(); d != 1 {
			t.Fatalf("Depth = %d, want 1 (only the unsettled second message)", d)
		}
	})
	t.Run("notify is called for each message", func(t *testing.T) {
		p := open(t, 4)
		c := attach(t, p, "a")
		appendN(t, p, 3)
		for i := range 3 {
			select {
			case <-c.notified:
			case <-time.After(Timeout):
				t.Fatalf("notification %d missing", i)
			}
		}
	})
}

// RunDurable checks what a durable broker adds: consumer groups (consumers
// named "group:<name>") that outlive their consumers. newBroker is called
// twice in some subtests; the two brokers must share their storage, like
// two processes on one RabbitMQ. Run it in addition to Run; the in-memory
// broker, which keeps nothing past a Detach, does not.
func RunDurable(t *testing.T, newBroker func(t *testing.T) bus.Broker) {
	open := func(t *testing.T, b bus.Broker, capacity int) bus.Partition {
		t.Helper()
		p, err := b.OpenPartition(strings.ReplaceAll(t.Name(), "/", "."), 0, capacity)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	t.Run("a group keeps what is appended while no consumer is attached", func(t *testing.T) {
		b := newBroker(t)
		p := open(t, b, 8)
		attach(t, p, "group:g").Detach()
		appendN(t, p, 3)
		c := attach(t, open(t, newBroker(t), 8), "group:g")
		for i := range 3 {
			m := c.next(t)
			if m.Event.ID() != evID(i) {
				t.Fatalf("message %d is %s, want %s", i, m.Event.ID(), evID(i))
			}
			c.Ack(m.Seq)
		}
	})
	t.Run("what a group consumer did not settle goes to the next one", func(t *testing.T) {
		p := open(t, newBroker(t), 8)
		first := attach(t, p, "group:g")
		appendN(t, p, 2)
		m0 := first.next(t)
		first.Ack(m0.Seq)
		first.next(t) // taken, never settled
		first.Detach()
		second := attach(t, open(t, newBroker(t), 8), "group:g")
		if m := second.next(t); m.Event.ID() != evID(1) {
			t.Fatalf("the next consumer got %s first, want the unsettled %s", m.Event.ID(), evID(1))
		}
	})
	t.Run("a group's message reaches one of its consumers", func(t *testing.T) {
		p1, p2 := open(t, newBroker(t), 8), open(t, newBroker(t), 8)
		a, b := attach(t, p1, "group:g"), attach(t, p2, "group:g")
		appendN(t, p1, 4)
		got := 0
		deadline := time.After(Timeout)
		for {
			for _, c := range []*consumer{a, b} {
				if m, ok := c.Next(); ok {
					c.Ack(m.Seq)
					got++
				}
			}
			if got >= 4 {
				break
			}
			select {
			case <-a.notified:
			case <-b.notified:
			case <-deadline:
				t.Fatalf("the group got %d of 4 messages", got)
			}
		}
		for _, c := range []*consumer{a, b} {
			if m, ok := c.Next(); ok {
				t.Fatalf("message %s came twice", m.Event.ID())
			}
		}
	})
}
