package bus_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
)

// newBus returns a bus that is shut down when the test ends.
func newBus(t *testing.T, cfg bus.Config) *bus.Bus {
	t.Helper()
	b := bus.New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
	})
	return b
}

// shutdown drains b and fails the test if that does not work.
func shutdown(t *testing.T, b *bus.Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func mustCreate(t *testing.T, b *bus.Bus, name string, cfg bus.TopicConfig) {
	t.Helper()
	if err := b.CreateTopic(name, cfg); err != nil {
		t.Fatalf("CreateTopic(%q): %v", name, err)
	}
}

func mustPublish(t *testing.T, b *bus.Bus, topic string, e shared.Event) {
	t.Helper()
	if err := b.Publish(context.Background(), topic, e); err != nil {
		t.Fatalf("Publish(%q, %s): %v", topic, e.ID(), err)
	}
}

func mustSubscribe(t *testing.T, b *bus.Bus, topic string, l shared.Listener) shared.Subscription {
	t.Helper()
	s, err := b.SubscribeE(topic, l)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	return s
}

// keyed returns an event with an ID and a "key" metadata entry.
func keyed(id, key string) *shared.BaseEvent {
	return shared.NewBaseEventWithMetadata(id, "test.event", nil, map[string]string{"key": key})
}

func byKey(e shared.Event) string { return e.Metadata()["key"] }

func evID(i int) string { return "e" + strconv.Itoa(i) }

// recorder is a listener that remembers the IDs it handled successfully.
type recorder struct {
	id string
	mu sync.Mutex
	ok []string
	fn func(e shared.Event) error // optional behaviour; nil succeeds
}

func (r *recorder) ID() string { return r.id }

func (r *recorder) Handle(_ context.Context, e shared.Event) error {
	if r.fn != nil {
		if err := r.fn(e); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.ok = append(r.ok, e.ID())
	r.mu.Unlock()
	return nil
}

func (r *recorder) handled() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ok...)
}

// gauge tracks how many callers are inside at once, and the most seen.
type gauge struct {
	mu       sync.Mutex
	cur, max int
}

func (g *gauge) enter() {
	g.mu.Lock()
	g.cur++
	g.max = max(g.max, g.cur)
	g.mu.Unlock()
}

func (g *gauge) leave() {
	g.mu.Lock()
	g.cur--
	g.mu.Unlock()
}

func (g *gauge) read() (cur, most int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur, g.max
}
