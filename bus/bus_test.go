package bus_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

func TestZeroTopicConfigWorks(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "zero", bus.TopicConfig{})
	r := &recorder{id: "r"}
	mustSubscribe(t, b, "zero", r)
	for i := range 100 {
		mustPublish(t, b, "zero", shared.NewBaseEvent(evID(i), "test.event", i))
	}
	st := b.Stats().TopicStats["zero"]
	if got := len(st.QueueDepth); got != bus.DefaultPartitions {
		t.Errorf("partitions = %d, want DefaultPartitions (%d)", got, bus.DefaultPartitions)
	}
	if st.DeliveryMode != bus.AtLeastOnce {
		t.Errorf("delivery mode = %v, want at-least-once", st.DeliveryMode)
	}
	shutdown(t, b)
	if got := len(r.handled()); got != 100 {
		t.Errorf("handled %d events, want 100", got)
	}
}

func TestFanOutReachesEverySubscriber(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "orders", bus.TopicConfig{Partitions: 3})
	rs := []*recorder{{id: "a"}, {id: "b"}, {id: "c"}}
	for _, r := range rs {
		mustSubscribe(t, b, "orders", r)
	}
	for i := range 50 {
		mustPublish(t, b, "orders", keyed(evID(i), "k"))
	}
	shutdown(t, b)
	for _, r := range rs {
		if got := len(r.handled()); got != 50 {
			t.Errorf("subscriber %s handled %d, want 50", r.id, got)
		}
	}
	s := b.Stats()
	if s.Published != 50 || s.Delivered != 150 || s.Processed != 150 {
		t.Errorf("stats published/delivered/processed = %d/%d/%d, want 50/150/150", s.Published, s.Delivered, s.Processed)
	}
}

func TestPublishRefusesBadInput(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "t", bus.TopicConfig{})
	var nilBase *shared.BaseEvent
	tests := []struct {
		name  string
		topic string
		event shared.Event
		want  error
	}{
		{"a nil event is invalid", "t", nil, bus.ErrInvalidEvent},
		{"a typed nil event is invalid", "t", nilBase, bus.ErrInvalidEvent},
		{"an empty ID is invalid", "t", shared.NewBaseEvent("", "x", nil), bus.ErrInvalidEvent},
		{"an empty type is invalid", "t", shared.NewBaseEvent("1", "", nil), bus.ErrInvalidEvent},
		{"an unknown topic is not found", "nope", shared.NewBaseEvent("1", "x", nil), shared.ErrTopicNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.Publish(context.Background(), tt.topic, tt.event)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Publish = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestOrderingKeyPanicIsAnError(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "t", bus.TopicConfig{OrderingKey: func(shared.Event) string { panic("boom") }})
	err := b.Publish(context.Background(), "t", shared.NewBaseEvent("1", "x", nil))
	if !errors.Is(err, shared.ErrListenerPanic) {
		t.Fatalf("Publish = %v, want a panic error", err)
	}
}

func TestCreateTopicValidates(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "dup", bus.TopicConfig{})
	tests := []struct {
		name  string
		topic string
		cfg   bus.TopicConfig
		want  error
	}{
		{"an existing name is refused", "dup", bus.TopicConfig{}, bus.ErrTopicExists},
		{"an empty name is refused", "", bus.TopicConfig{}, bus.ErrInvalidTopic},
		{"a wildcard name is refused", "orders.*", bus.TopicConfig{}, bus.ErrInvalidTopic},
		{"an unknown delivery mode is refused", "m", bus.TopicConfig{DeliveryMode: 42}, bus.ErrInvalidConfig},
		{"an evicting overflow policy is refused", "o", bus.TopicConfig{Overflow: workerpool.EvictOldest}, bus.ErrInvalidConfig},
		{"too many partitions are refused", "p", bus.TopicConfig{Partitions: bus.MaxPartitions + 1}, bus.ErrInvalidConfig},
		{"the largest partitions and buffers together are refused", "s", bus.TopicConfig{Partitions: bus.MaxPartitions, BufferSize: bus.MaxBufferSize}, bus.ErrInvalidConfig},
		{"a dead-letter handler without Enabled is refused", "d", bus.TopicConfig{DeadLetter: listener.DeadLetterConfig{Handler: func(shared.Event, error) {}}}, bus.ErrInvalidConfig},
		{"more slots than MaxTopicSlots are refused", "s", bus.TopicConfig{Partitions: 2 * bus.MaxTopicSlots / bus.MaxBufferSize, BufferSize: bus.MaxBufferSize}, bus.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.CreateTopic(tt.topic, tt.cfg); !errors.Is(err, tt.want) {
				t.Fatalf("CreateTopic = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("too many slots in all is a *ConfigError naming the limit", func(t *testing.T) {
		err := b.CreateTopic("slots", bus.TopicConfig{Partitions: 1024, BufferSize: bus.MaxTopicSlots/1024 + 1})
		var ce *bus.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "MaxTopicSlots") {
			t.Fatalf("CreateTopic = %v, want a *ConfigError about MaxTopicSlots", err)
		}
		if slices.Contains(b.Topics(), "slots") {
			t.Fatal("the refused topic exists")
		}
	})
	t.Run("negative sizes are refused, zero ones get the defaults", func(t *testing.T) {
		if err := b.CreateTopic("neg", bus.TopicConfig{Partitions: -3}); !errors.Is(err, bus.ErrInvalidConfig) {
			t.Fatalf("CreateTopic with Partitions -3 = %v, want ErrInvalidConfig", err)
		}
		mustCreate(t, b, "zero", bus.TopicConfig{})
		if got := len(b.Stats().TopicStats["zero"].QueueDepth); got != bus.DefaultPartitions {
			t.Fatalf("partitions = %d, want %d", got, bus.DefaultPartitions)
		}
	})
}

func TestTopicsAndDeleteTopic(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "b", bus.TopicConfig{})
	mustCreate(t, b, "a", bus.TopicConfig{})
	if got := b.Topics(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Topics = %v", got)
	}
	if err := b.DeleteTopic("a"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteTopic("a"); !errors.Is(err, bus.ErrTopicNotFound) {
		t.Fatalf("second DeleteTopic = %v, want ErrTopicNotFound", err)
	}
	if err := b.Publish(context.Background(), "a", shared.NewBaseEvent("1", "x", nil)); !errors.Is(err, bus.ErrTopicNotFound) {
		t.Fatalf("Publish to a deleted topic = %v, want ErrTopicNotFound", err)
	}
	if got := b.Topics(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("Topics = %v", got)
	}
}

func TestDeletedTopicKeepsItsSubscriptions(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "t", bus.TopicConfig{})
	r := &recorder{id: "r"}
	mustSubscribe(t, b, "t", r)
	if err := b.DeleteTopic("t"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, b, "t", bus.TopicConfig{})
	mustPublish(t, b, "t", shared.NewBaseEvent("1", "x", nil))
	shutdown(t, b)
	if got := r.handled(); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("handled %v, want [1]", got)
	}
}

func TestUnknownTopics(t *testing.T) {
	t.Run("without auto-create, publish and subscribe say not found", func(t *testing.T) {
		b := newBus(t, bus.Config{})
		if err := b.Publish(context.Background(), "x", shared.NewBaseEvent("1", "x", nil)); !errors.Is(err, bus.ErrTopicNotFound) {
			t.Fatalf("Publish = %v", err)
		}
		if _, err := b.SubscribeE("x", &recorder{id: "r"}); !errors.Is(err, bus.ErrTopicNotFound) {
			t.Fatalf("SubscribeE = %v", err)
		}
		sub := b.Subscribe("x", &recorder{id: "r"})
		if sub.Active() || !errors.Is(sub.Unsubscribe(), bus.ErrTopicNotFound) {
			t.Fatalf("Subscribe gave an active subscription or the wrong error")
		}
	})
	t.Run("with auto-create, publish creates the topic with the defaults", func(t *testing.T) {
		b := newBus(t, bus.Config{AutoCreateTopics: true, TopicDefaults: bus.TopicConfig{Partitions: 2}})
		mustPublish(t, b, "fresh", shared.NewBaseEvent("1", "x", nil))
		if got := b.Topics(); !slices.Equal(got, []string{"fresh"}) {
			t.Fatalf("Topics = %v", got)
		}
		if got := len(b.Stats().TopicStats["fresh"].QueueDepth); got != 2 {
			t.Fatalf("partitions = %d, want 2", got)
		}
		if got := b.Stats().Dropped[bus.DropNoSubscribers]; got != 1 {
			t.Fatalf("no-subscriber drops = %d, want 1", got)
		}
	})
	t.Run("with auto-create, subscribing first does not make CreateTopic fail", func(t *testing.T) {
		b := newBus(t, bus.Config{AutoCreateTopics: true})
		r := &recorder{id: "early"}
		mustSubscribe(t, b, "late", r)
		mustCreate(t, b, "late", bus.TopicConfig{Partitions: 8})
		mustPublish(t, b, "late", shared.NewBaseEvent("1", "x", nil))
		shutdown(t, b)
		if got := r.handled(); !slices.Equal(got, []string{"1"}) {
			t.Fatalf("handled %v", got)
		}
	})
}

func TestErrorsMatchSharedSentinels(t *testing.T) {
	pairs := []struct{ ours, shared error }{
		{bus.ErrClosed, bus.ErrClosed},
		{bus.ErrTopicNotFound, shared.ErrTopicNotFound},
		{bus.ErrBufferFull, shared.ErrBufferFull},
	}
	for _, p := range pairs {
		if !errors.Is(p.ours, p.shared) || !errors.Is(p.shared, p.ours) {
			t.Errorf("%v and %v do not match", p.ours, p.shared)
		}
	}
}

func TestEnumsHaveNames(t *testing.T) {
	names := map[string]string{
		bus.AtLeastOnce.String():            "at-least-once",
		bus.AtMostOnce.String():             "at-most-once",
		bus.ExactlyOnce.String():            "exactly-once",
		bus.DropBufferFull.String():         "buffer_full",
		bus.DropDeadLetterOverflow.String(): "dead_letter_overflow",
		bus.DropMalformed.String():          "malformed",
	}
	for got, want := range names {
		if got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	if s := bus.DeliveryMode(9).String(); s != "DeliveryMode(9)" {
		t.Errorf("unknown mode = %q", s)
	}
}
