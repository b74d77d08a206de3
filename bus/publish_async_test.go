package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
)

func TestPublishAsyncOnTheMemoryBrokerIsSettledAtOnce(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "t", bus.TopicConfig{})
	got := make(chan string, 1)
	b.Subscribe("t", shared.NewBaseListener("l", func(e shared.Event) error { got <- e.ID(); return nil }))
	r, err := b.PublishAsync(context.Background(), "t", shared.NewBaseEvent("1", "x", nil))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Done():
	default:
		t.Fatal("the receipt of an in-memory publish is not settled")
	}
	if err := r.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if id := <-got; id != "1" {
		t.Fatalf("handled %s", id)
	}
}

func TestPublishAsyncRefusesWhatPublishRefuses(t *testing.T) {
	b := newBus(t, bus.Config{})
	if _, err := b.PublishAsync(context.Background(), "missing", shared.NewBaseEvent("1", "x", nil)); !errors.Is(err, bus.ErrTopicNotFound) {
		t.Fatalf("unknown topic: %v", err)
	}
	mustCreate(t, b, "t", bus.TopicConfig{})
	if _, err := b.PublishAsync(context.Background(), "t", nil); !errors.Is(err, bus.ErrInvalidEvent) {
		t.Fatalf("nil event: %v", err)
	}
	shutdown(t, b)
	if _, err := b.PublishAsync(context.Background(), "t", shared.NewBaseEvent("1", "x", nil)); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("after Shutdown: %v", err)
	}
}

// asyncBroker completes appends later, when the test says so.
type asyncBroker struct {
	mem     *bus.MemoryBroker
	mu      sync.Mutex
	pending []func()
}

func (a *asyncBroker) OpenPartition(topic string, index, capacity int) (bus.Partition, error) {
	p, err := a.mem.OpenPartition(topic, index, capacity)
	return &asyncPartition{Partition: p, b: a}, err
}

func (a *asyncBroker) complete() {
	a.mu.Lock()
	fns := a.pending
	a.pending = nil
	a.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

type asyncPartition struct {
	bus.Partition
	b *asyncBroker
}

func (p *asyncPartition) AppendAsync(ctx context.Context, m bus.Message, wait bool, done func(int, error)) error {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	p.b.pending = append(p.b.pending, func() { done(p.Append(ctx, m, wait)) })
	return nil
}

func TestPublishAsyncSettlesWhenTheBrokerConfirms(t *testing.T) {
	ab := &asyncBroker{mem: bus.NewMemoryBroker()}
	b := newBus(t, bus.Config{Broker: ab})
	mustCreate(t, b, "t", bus.TopicConfig{})
	r, err := b.PublishAsync(context.Background(), "t", shared.NewBaseEvent("1", "x", nil))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Done():
		t.Fatal("settled before the broker confirmed")
	default:
	}
	if r.Err() != nil {
		t.Fatal("Err before Done")
	}
	ab.complete()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Published != 1 || s.Dropped[bus.DropNoSubscribers] != 1 {
		t.Fatalf("Published %d, DropNoSubscribers %d; want 1 and 1", s.Published, s.Dropped[bus.DropNoSubscribers])
	}
}
