package bus_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
)

func TestUnsubscribingOneOfTwoSubscriptionsOfTheSameListenerKeepsTheOther(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "t", bus.TopicConfig{})
	r := &recorder{id: "same"}
	first := mustSubscribe(t, b, "t", r)
	second := mustSubscribe(t, b, "t", r)
	mustPublish(t, b, "t", shared.NewBaseEvent("both", "x", nil))
	if err := first.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if first.Active() || !second.Active() {
		t.Fatalf("active: first %v, second %v; want false, true", first.Active(), second.Active())
	}
	mustPublish(t, b, "t", shared.NewBaseEvent("one", "x", nil))
	shutdown(t, b)
	got := r.handled()
	slices.Sort(got)
	// "both" may or may not have reached the first subscription before it
	// went; "one" reaches exactly the second.
	if n := idList(got).count("one"); n != 1 {
		t.Fatalf("handled %v: the remaining subscription should get %q exactly once", got, "one")
	}
	if n := idList(got).count("both"); n < 1 {
		t.Fatalf("handled %v: %q never arrived", got, "both")
	}
	if err := first.Unsubscribe(); err != nil {
		t.Fatalf("second Unsubscribe = %v, want nil", err)
	}
}

type idList []string

func (s idList) count(v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestSubscribePatternMatchesTopicsCreatedLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "orders.eu", bus.TopicConfig{})
		r := &recorder{id: "audit"}
		sub, err := b.SubscribePattern("orders.*", r)
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, b, "orders.us", bus.TopicConfig{})
		mustCreate(t, b, "orders.us.west", bus.TopicConfig{})
		mustCreate(t, b, "payments", bus.TopicConfig{})
		for _, topic := range []string{"orders.eu", "orders.us", "orders.us.west", "payments"} {
			mustPublish(t, b, topic, shared.NewBaseEvent(topic, "x", nil))
		}
		if got := b.Stats().Subscribers; got != 1 {
			t.Errorf("Subscribers = %d, want 1", got)
		}
		synctest.Wait()
		if err := sub.Unsubscribe(); err != nil {
			t.Fatal(err)
		}
		mustPublish(t, b, "orders.eu", shared.NewBaseEvent("after", "x", nil))
		shutdown(t, b)
		got := r.handled()
		slices.Sort(got)
		if !slices.Equal(got, []string{"orders.eu", "orders.us"}) {
			t.Fatalf("pattern subscriber handled %v, want orders.eu and orders.us", got)
		}
	})
}

func TestSubscribeRefusesBadInput(t *testing.T) {
	b := newBus(t, bus.Config{AutoCreateTopics: true})
	var nilListener *shared.BaseListener
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"a nil listener", func() error { _, err := b.SubscribeE("t", nil); return err }, shared.ErrNilListener},
		{"a typed nil listener", func() error { _, err := b.SubscribeE("t", nilListener); return err }, shared.ErrNilListener},
		{"an empty listener ID", func() error { _, err := b.SubscribeE("t", shared.NewBaseListener("", nil)); return err }, shared.ErrInvalidListener},
		{"a malformed pattern", func() error { _, err := b.SubscribePattern("a.>.b", &recorder{id: "r"}); return err }, shared.ErrInvalidPattern},
		{"an empty group", func() error { _, err := b.SubscribeGroup("t", "", &recorder{id: "r"}); return err }, bus.ErrInvalidSubscription},
		{"an empty topic", func() error { _, err := b.SubscribeE("", &recorder{id: "r"}); return err }, bus.ErrInvalidTopic},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("the seed-shaped Subscribe returns an inactive subscription", func(t *testing.T) {
		sub := b.Subscribe("t", nil)
		if sub.Active() || !errors.Is(sub.Unsubscribe(), shared.ErrNilListener) {
			t.Fatalf("got an active subscription or the wrong error")
		}
	})
}

func TestConsumerGroupHandsEachEventToOneMember(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "jobs", bus.TopicConfig{Partitions: 4, MaxConcurrency: 2})
	members := []*recorder{{id: "m1"}, {id: "m2"}, {id: "m3"}}
	for _, m := range members {
		if _, err := b.SubscribeGroup("jobs", "workers", m); err != nil {
			t.Fatal(err)
		}
	}
	solo := &recorder{id: "solo"}
	mustSubscribe(t, b, "jobs", solo)
	const n = 600
	for i := range n {
		mustPublish(t, b, "jobs", shared.NewBaseEvent(evID(i), "x", nil))
	}
	shutdown(t, b)
	seen := map[string]int{}
	for _, m := range members {
		got := m.handled()
		if len(got) == 0 {
			t.Errorf("member %s got nothing", m.id)
		}
		for _, id := range got {
			seen[id]++
		}
	}
	if len(seen) != n {
		t.Fatalf("group handled %d distinct events, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("event %s handled %d times by the group", id, c)
		}
	}
	if got := len(solo.handled()); got != n {
		t.Fatalf("plain subscriber beside the group handled %d, want %d", got, n)
	}
	if got := b.Stats().TopicStats["jobs"].Consumers; got != 2 {
		t.Fatalf("consumers = %d, want 2 (the group and the plain subscriber)", got)
	}
}

// The group's round-robin counter wraps around at 2^32 and passes 2^31 on
// the way: picking a member must never compute a negative index (which a
// conversion to int before the modulo did on 32-bit platforms; run with
// GOARCH=386 to see it).
func TestConsumerGroupRoundRobinSurvivesItsCounterWrapping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bus.New(bus.Config{})
		mustCreate(t, b, "jobs", bus.TopicConfig{Partitions: 1})
		members := []*recorder{{id: "m1"}, {id: "m2"}, {id: "m3"}}
		for _, m := range members {
			if _, err := b.SubscribeGroup("jobs", "workers", m); err != nil {
				t.Fatal(err)
			}
		}
		bus.SetGroupCursor(b, "jobs", "workers", 1<<31-2) // crosses 2^31 after two picks
		for i := range 6 {
			mustPublish(t, b, "jobs", shared.NewBaseEvent(evID(i), "x", nil))
		}
		synctest.Wait()
		bus.SetGroupCursor(b, "jobs", "workers", 1<<32-2) // wraps to 0 after two picks
		for i := 6; i < 12; i++ {
			mustPublish(t, b, "jobs", shared.NewBaseEvent(evID(i), "x", nil))
		}
		shutdown(t, b)
		total := 0
		for _, m := range members {
			n := len(m.handled())
			total += n
			if n < 3 {
				t.Errorf("member %s handled %d events, want every member to get its turn", m.id, n)
			}
		}
		if total != 12 {
			t.Errorf("the group handled %d events, want 12", total)
		}
	})
}

func TestConsumerGroupRebalancesWithoutLosingOrDuplicating(t *testing.T) {
	b := newBus(t, bus.Config{})
	mustCreate(t, b, "jobs", bus.TopicConfig{Partitions: 4, MaxConcurrency: 2, OrderingKey: byKey})

	var mu sync.Mutex
	handled := map[string]int{}
	order := map[string][]int{}
	member := func(id string) shared.Listener {
		return shared.NewBaseListener(id, func(e shared.Event) error {
			mu.Lock()
			handled[e.ID()]++
			order[byKey(e)] = append(order[byKey(e)], seqOf(e))
			mu.Unlock()
			return nil
		})
	}
	first, err := b.SubscribeGroup("jobs", "g", member("m0"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	var subs []shared.Subscription
	for i := range n {
		switch i {
		case 500, 1000, 1500:
			s, err := b.SubscribeGroup("jobs", "g", member("m"+strconv.Itoa(i)))
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, s)
		case 1200:
			_ = first.Unsubscribe() // the original member leaves mid-stream
		case 2000:
			_ = subs[0].Unsubscribe()
		}
		ev := shared.NewBaseEventWithMetadata(evID(i), "x", nil, map[string]string{
			"key": "k" + strconv.Itoa(i%11), "seq": strconv.Itoa(i),
		})
		if err := b.Publish(context.Background(), "jobs", ev); err != nil {
			t.Fatal(err)
		}
	}
	shutdown(t, b)
	if len(handled) != n {
		t.Fatalf("group handled %d distinct events, want %d", len(handled), n)
	}
	for id, c := range handled {
		if c != 1 {
			t.Fatalf("event %s handled %d times", id, c)
		}
	}
	for key, seqs := range order {
		if !slices.IsSorted(seqs) {
			t.Fatalf("key %s out of order across members", key)
		}
	}
	if d := b.Stats().TotalDropped(); d != 0 {
		t.Fatalf("dropped %d events", d)
	}
}

func TestSubscribingWhilePublishingMissesNothingPublishedAfterwards(t *testing.T) {
	for range 20 {
		b := newBus(t, bus.Config{})
		mustCreate(t, b, "t", bus.TopicConfig{Partitions: 4})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // background traffic while subscriptions are made
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = b.Publish(context.Background(), "t", shared.NewBaseEvent("bg"+strconv.Itoa(i), "x", nil))
			}
		}()
		var rs []*recorder
		for i := range 5 {
			r := &recorder{id: "late" + strconv.Itoa(i)}
			mustSubscribe(t, b, "t", r)
			mustPublish(t, b, "t", shared.NewBaseEvent("marker"+strconv.Itoa(i), "x", nil))
			rs = append(rs, r)
		}
		close(stop)
		wg.Wait()
		shutdown(t, b)
		for i, r := range rs {
			got := idList(r.handled())
			for j := i; j < 5; j++ {
				if got.count("marker"+strconv.Itoa(j)) != 1 {
					t.Fatalf("%s missed marker%d published after it subscribed", r.id, j)
				}
			}
		}
	}
}
