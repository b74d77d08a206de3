package bus_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/bus/brokertest"
	"github.com/novaevents/nova/shared"
)

// hookBroker is the in-memory broker with hooks, standing in for an
// external broker: the bus cannot tell it from one, so it checks its
// messages.
type hookBroker struct {
	mem bus.Broker
	// next, if set, may change what a cursor's Next returns.
	next func(bus.Message) bus.Message
	// beforeAppend and beforeClose, if set, run first in Append and Close;
	// afterAppend runs after a successful Append.
	beforeAppend func(bus.Message)
	afterAppend  func(bus.Message)
	beforeClose  func()
}

func (h *hookBroker) OpenPartition(topic string, index, capacity int) (bus.Partition, error) {
	p, err := h.mem.OpenPartition(topic, index, capacity)
	if err != nil {
		return nil, err
	}
	return &hookPartition{Partition: p, h: h}, nil
}

type hookPartition struct {
	bus.Partition
	h *hookBroker
}

func (p *hookPartition) Append(ctx context.Context, m bus.Message, wait bool) (int, error) {
	if p.h.beforeAppend != nil {
		p.h.beforeAppend(m)
	}
	n, err := p.Partition.Append(ctx, m, wait)
	if err == nil && p.h.afterAppend != nil {
		p.h.afterAppend(m)
	}
	return n, err
}

func (p *hookPartition) Close() {
	if p.h.beforeClose != nil {
		p.h.beforeClose()
	}
	p.Partition.Close()
}

func (p *hookPartition) Attach(name string, notify func(bus.Message)) (bus.Cursor, error) {
	c, err := p.Partition.Attach(name, notify)
	if err != nil {
		return nil, err
	}
	return &hookCursor{Cursor: c, h: p.h}, nil
}

type hookCursor struct {
	bus.Cursor
	h *hookBroker
}

func (c *hookCursor) Next() (bus.Message, bool) {
	m, ok := c.Cursor.Next()
	if ok && c.h.next != nil {
		m = c.h.next(m)
	}
	return m, ok
}

func TestHookBrokerPassesTheConformanceSuite(t *testing.T) {
	brokertest.Run(t, func(*testing.T) bus.Broker { return &hookBroker{mem: bus.NewMemoryBroker()} })
}

// A broker handing over a nil or invalid event must not crash the bus: the
// message is acknowledged and counted as malformed, and the others are
// delivered as usual, in every delivery mode and with a metrics hook.
func TestMalformedMessagesFromABrokerAreAcknowledgedAndCounted(t *testing.T) {
	for _, mode := range []bus.DeliveryMode{bus.AtMostOnce, bus.AtLeastOnce, bus.ExactlyOnce} {
		t.Run(mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hb := &hookBroker{mem: bus.NewMemoryBroker(), next: func(m bus.Message) bus.Message {
					switch m.Event.ID() {
					case "nil":
						m.Event = nil
					case "typeless":
						m.Event = shared.NewBaseEvent("typeless", "", nil)
					case "odd-priority":
						m.Priority = 99
					}
					return m
				}}
				var metrics countingMetrics
				b := bus.New(bus.Config{Broker: hb, Metrics: &metrics})
				mustCreate(t, b, "t", bus.TopicConfig{Partitions: 2, DeliveryMode: mode})
				var mu sync.Mutex
				var got []string
				mustSubscribe(t, b, "t", shared.NewBaseListener("r", func(e shared.Event) error {
					id := "<nil event>"
					if !shared.IsNil(e) {
						id = e.ID()
					}
					mu.Lock()
					got = append(got, id)
					mu.Unlock()
					return nil
				}))
				for _, id := range []string{"a", "nil", "b", "typeless", "odd-priority", "c"} {
					mustPublish(t, b, "t", shared.NewBaseEvent(id, "x", nil))
				}
				shutdown(t, b) // returns only if the malformed messages were acknowledged
				slices.Sort(got)
				if !slices.Equal(got, []string{"a", "b", "c", "odd-priority"}) {
					t.Errorf("handled %v, want a, b, c and odd-priority", got)
				}
				s := b.Stats()
				if s.Dropped[bus.DropMalformed] != 2 || s.Processed != 4 || s.Failed != 0 {
					t.Errorf("malformed drops/processed/failed = %d/%d/%d, want 2/4/0", s.Dropped[bus.DropMalformed], s.Processed, s.Failed)
				}
				if n := metrics.calls["dropped:malformed"]; n != 2 {
					t.Errorf("metrics saw %d malformed drops, want 2", n)
				}
			})
		})
	}
}

// DeleteTopic detaches the subscribers before it closes the partitions. An
// event that a Publish racing it appends in between is dropped because the
// topic went, not for want of subscribers, and is counted as published,
// whether the Publish counts it before or after DeleteTopic has taken the
// topic's counts.
func TestPublishRacingDeleteTopicIsCountedAsTopicDeleted(t *testing.T) {
	for _, late := range []bool{false, true} {
		name := "the publish finishes before the partition closes"
		if late {
			name = "the publish finishes after DeleteTopic returned"
		}
		t.Run(name, func(t *testing.T) {
			entered, proceed := make(chan struct{}), make(chan struct{})
			appended, deleted := make(chan struct{}), make(chan struct{})
			var once sync.Once
			hb := &hookBroker{mem: bus.NewMemoryBroker()}
			hb.beforeAppend = func(m bus.Message) {
				if m.Event.ID() == "racer" {
					close(entered)
					<-proceed // DeleteTopic has detached the subscriber by now
				}
			}
			hb.afterAppend = func(m bus.Message) {
				if m.Event.ID() == "racer" {
					close(appended)
					if late {
						<-deleted
					}
				}
			}
			hb.beforeClose = func() {
				once.Do(func() {
					close(proceed)
					<-appended // the racer's Append is done before the partition closes
				})
			}
			b := newBus(t, bus.Config{Broker: hb})
			mustCreate(t, b, "t", bus.TopicConfig{Partitions: 1})
			mustSubscribe(t, b, "t", &recorder{id: "r"})
			published := make(chan error, 1)
			go func() {
				published <- b.Publish(context.Background(), "t", shared.NewBaseEvent("racer", "x", nil))
			}()
			<-entered
			if err := b.DeleteTopic("t"); err != nil {
				t.Fatal(err)
			}
			close(deleted)
			if err := <-published; err != nil {
				t.Fatalf("the racing Publish = %v, want it accepted (its Append succeeded)", err)
			}
			s := b.Stats()
			if s.Dropped[bus.DropTopicDeleted] != 1 || s.Dropped[bus.DropNoSubscribers] != 0 {
				t.Errorf("topic-deleted/no-subscriber drops = %d/%d, want 1/0", s.Dropped[bus.DropTopicDeleted], s.Dropped[bus.DropNoSubscribers])
			}
			if s.Published != 1 {
				t.Errorf("Published = %d, want the racing event counted", s.Published)
			}
		})
	}
}
