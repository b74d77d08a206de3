package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/novaevents/nova/store"
)

func (s *suite) testSubscriptions(t *testing.T) {
	t.Run("a subscription reads the history and then follows live appends", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "s", events("old", 10)...)
		sub := mustSubscribe(t, ctx, st, "s", store.FromStart)
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range 90 {
				if err := st.Append(ctx, "s", newEvent(fmt.Sprintf("new-%d", i), i)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
		got := receive(t, ctx, sub, 100)
		wg.Wait()
		if !slices.Equal(versions(got), seq(1, 100)) {
			t.Fatalf("versions %v, want 1…100", versions(got))
		}
		checkUnique(t, got, 100)
		expectNothingMore(t, sub)
	})

	t.Run("an all-streams subscription delivers every event once in position order under concurrent writers", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "history", events("h", 20)...)
		sub := mustSubscribe(t, ctx, st, store.AllStreams, store.FromStart)
		const writers, each = 4, 50
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					if err := st.Append(ctx, fmt.Sprintf("w%d", w), newEvent(fmt.Sprintf("w%d-%d", w, i), i)); err != nil {
						t.Errorf("Append: %v", err)
						return
					}
				}
			})
		}
		got := receive(t, ctx, sub, 20+writers*each)
		wg.Wait()
		if !slices.Equal(positions(got), seq(1, 20+writers*each)) {
			t.Fatalf("positions %v, want 1…%d", positions(got), 20+writers*each)
		}
		checkUnique(t, got, 20+writers*each)
		expectNothingMore(t, sub)
	})

	t.Run("a late subscriber catches up while appends go on and misses nothing", func(t *testing.T) {
		st, ctx := s.open(t)
		const total = 400
		half := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range total {
				if i == total/2 {
					close(half)
				}
				if err := st.Append(ctx, "s", newEvent(fmt.Sprintf("e-%d", i), i)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
		<-half
		stream := mustSubscribe(t, ctx, st, "s", store.FromStart)
		all := mustSubscribe(t, ctx, st, store.AllStreams, store.FromStart)
		gotStream, gotAll := receive(t, ctx, stream, total), receive(t, ctx, all, total)
		wg.Wait()
		if !slices.Equal(versions(gotStream), seq(1, total)) {
			t.Errorf("stream subscription: versions %v, want 1…%d", versions(gotStream), total)
		}
		if !slices.Equal(positions(gotAll), seq(1, total)) {
			t.Errorf("all-streams subscription: positions %v, want 1…%d", positions(gotAll), total)
		}
	})

	t.Run("a slow subscriber neither holds back appends nor other subscribers and misses nothing", func(t *testing.T) {
		st, ctx := s.open(t)
		const total = 300
		slow := mustSubscribe(t, ctx, st, store.AllStreams, store.FromStart)
		fast := mustSubscribe(t, ctx, st, store.AllStreams, store.FromStart)
		var (
			wg      sync.WaitGroup
			gotFast []store.Record
		)
		wg.Go(func() {
			for len(gotFast) < total {
				r, err := fast.Next(ctx)
				if err != nil {
					t.Errorf("fast subscriber after %d: %v", len(gotFast), err)
					return
				}
				gotFast = append(gotFast, r)
			}
		})
		// The slow subscriber reads nothing until every append has returned
		// and the fast one has everything: if either waited for it, this
		// would hang until the suite's timeout.
		for i := range total {
			mustAppend(t, ctx, st, fmt.Sprintf("s%d", i%3), newEvent(fmt.Sprintf("e-%d", i), i))
		}
		wg.Wait()
		gotSlow := receive(t, ctx, slow, total)
		for name, got := range map[string][]store.Record{"fast": gotFast, "slow": gotSlow} {
			if !slices.Equal(positions(got), seq(1, total)) {
				t.Errorf("%s subscriber: positions %v, want 1…%d", name, positions(got), total)
			}
		}
		expectNothingMore(t, slow)
	})

	t.Run("a subscription from FromEnd sees only events appended after it", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "s", events("old", 5)...)
		mustAppend(t, ctx, st, "t", events("t", 2)...)
		sub := mustSubscribe(t, ctx, st, "s", store.FromEnd)
		all := mustSubscribe(t, ctx, st, store.AllStreams, store.FromEnd)
		mustAppend(t, ctx, st, "s", events("new", 3)...)
		if got := receive(t, ctx, sub, 3); !slices.Equal(versions(got), seq(6, 8)) {
			t.Errorf("stream subscription: versions %v, want 6…8", versions(got))
		}
		if got := receive(t, ctx, all, 3); !slices.Equal(positions(got), seq(8, 10)) {
			t.Errorf("all-streams subscription: positions %v, want 8…10", positions(got))
		}
	})

	t.Run("a subscription from a version or position starts there", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "s", events("s", 6)...)
		sub := mustSubscribe(t, ctx, st, "s", 4)
		if got := receive(t, ctx, sub, 3); !slices.Equal(versions(got), seq(4, 6)) {
			t.Errorf("versions %v, want 4…6", versions(got))
		}
		all := mustSubscribe(t, ctx, st, store.AllStreams, 5)
		if got := receive(t, ctx, all, 2); !slices.Equal(positions(got), seq(5, 6)) {
			t.Errorf("positions %v, want 5…6", positions(got))
		}
	})

	t.Run("a subscription to a stream that does not exist yet gets its first events and only its own", func(t *testing.T) {
		st, ctx := s.open(t)
		sub := mustSubscribe(t, ctx, st, "later", store.FromStart)
		mustAppend(t, ctx, st, "other", events("o", 3)...)
		mustAppend(t, ctx, st, "later", events("l", 2)...)
		mustAppend(t, ctx, st, "other", events("p", 1)...)
		got := receive(t, ctx, sub, 2)
		if want := []string{"l-1", "l-2"}; !slices.Equal(ids(got), want) {
			t.Errorf("IDs %v, want %v", ids(got), want)
		}
		expectNothingMore(t, sub)
	})

	t.Run("Next returns the context's error and the subscription stays usable", func(t *testing.T) {
		st, ctx := s.open(t)
		sub := mustSubscribe(t, ctx, st, "s", store.FromStart)
		waiting, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := sub.Next(waiting)
			done <- err
		}()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Next = %v, want context.Canceled", err)
		}
		mustAppend(t, ctx, st, "s", events("s", 1)...)
		if got := receive(t, ctx, sub, 1); got[0].ID() != "s-1" {
			t.Errorf("Next after a cancelled one = %s, want s-1", describe(got[0]))
		}
	})

	t.Run("Close wakes a waiting Next and later calls report the subscription closed", func(t *testing.T) {
		st, ctx := s.open(t)
		sub := mustSubscribe(t, ctx, st, store.AllStreams, store.FromStart)
		done := make(chan error, 1)
		go func() {
			_, err := sub.Next(ctx)
			done <- err
		}()
		if err := sub.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-done; !errors.Is(err, store.ErrSubscriptionClosed) {
			t.Errorf("waiting Next = %v, want ErrSubscriptionClosed", err)
		}
		mustAppend(t, ctx, st, "s", events("s", 1)...)
		if _, err := sub.Next(ctx); !errors.Is(err, store.ErrSubscriptionClosed) {
			t.Errorf("Next after Close = %v, want ErrSubscriptionClosed", err)
		}
		if err := sub.Close(); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
	})

	t.Run("closing the store ends subscriptions with ErrClosed", func(t *testing.T) {
		st, ctx := s.open(t)
		sub := mustSubscribe(t, ctx, st, "s", store.FromStart)
		done := make(chan error, 1)
		go func() {
			_, err := sub.Next(ctx)
			done <- err
		}()
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-done; !errors.Is(err, store.ErrClosed) {
			t.Errorf("Next = %v, want ErrClosed", err)
		}
	})
}
