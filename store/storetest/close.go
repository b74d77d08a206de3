package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/novaevents/nova/store"
)

func (s *suite) testClose(t *testing.T) {
	t.Run("every call after Close returns ErrClosed", func(t *testing.T) {
		st, ctx := s.open(t)
		mustAppend(t, ctx, st, "s", events("s", 2)...)
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		calls := map[string]func() error{
			"Append":         func() error { return st.Append(ctx, "s", newEvent("x", 1)) },
			"AppendExpected": func() error { return st.AppendExpected(ctx, "s", 2, newEvent("x", 1)) },
			"Read":           func() error { _, err := st.Read(ctx, "s", store.FromStart, 0); return err },
			"ReadAll":        func() error { _, err := st.ReadAll(ctx, store.FromStart, 0); return err },
			"ReadTimeRange":  func() error { _, err := st.ReadTimeRange(ctx, time.Time{}, time.Time{}, 0); return err },
			"Replay": func() error {
				return st.Replay(ctx, time.Time{}, time.Time{}, func(store.Record) error { return nil })
			},
			"Subscribe":     func() error { _, err := st.Subscribe(ctx, "s", store.FromStart); return err },
			"GetStreams":    func() error { _, err := st.GetStreams(ctx); return err },
			"GetStreamInfo": func() error { _, err := st.GetStreamInfo(ctx, "s"); return err },
		}
		if tr, ok := st.(store.Trimmer); ok {
			calls["TrimStream"] = func() error { _, err := tr.TrimStream(ctx, "s", 2); return err }
			calls["TrimBefore"] = func() error { _, err := tr.TrimBefore(ctx, time.Now()); return err }
		}
		for name, call := range calls {
			wantErrIs(t, name+" after Close", call(), store.ErrClosed)
		}
	})

	t.Run("closing the store counts its subscriptions out of Stats", func(t *testing.T) {
		st, ctx := s.open(t)
		stream := mustSubscribe(t, ctx, st, "s", store.FromStart)
		mustSubscribe(t, ctx, st, store.AllStreams, store.FromStart)
		if got := st.Stats().SubscriptionsActive; got != 2 {
			t.Fatalf("SubscriptionsActive = %d with two open, want 2", got)
		}
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got := st.Stats().SubscriptionsActive; got != 0 {
			t.Errorf("after the store's Close, SubscriptionsActive = %d, want 0", got)
		}
		if err := stream.Close(); err != nil { // an ended subscription is not counted out twice
			t.Errorf("closing a subscription after the store: %v", err)
		}
		if got := st.Stats().SubscriptionsActive; got != 0 {
			t.Errorf("after closing a subscription of the closed store, SubscriptionsActive = %d, want 0", got)
		}
	})

	t.Run("closing twice returns nil", func(t *testing.T) {
		st, _ := s.open(t)
		if err := st.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})

	t.Run("appends racing Close either succeed or return ErrClosed, and never panic", func(t *testing.T) {
		st, ctx := s.open(t)
		const writers = 4
		var (
			wg      sync.WaitGroup
			started = make(chan struct{}, writers)
		)
		for w := range writers {
			wg.Go(func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("writer %d panicked: %v", w, p)
					}
				}()
				for i := 0; ; i++ {
					err := st.Append(ctx, fmt.Sprintf("w%d", w), newEvent(fmt.Sprintf("w%d-%d", w, i), i))
					if i == 0 {
						started <- struct{}{}
					}
					if err != nil {
						if !errors.Is(err, store.ErrClosed) {
							t.Errorf("writer %d: %v, want ErrClosed", w, err)
						}
						return
					}
				}
			})
		}
		for range writers {
			<-started
		}
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
	})
}
