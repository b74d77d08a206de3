package bus_test

import (
	"context"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/bus"
)

func TestMemoryIdempotencyStore(t *testing.T) {
	ctx := context.Background()
	claim := func(t *testing.T, s bus.IdempotencyStore, scope, id string) bool {
		t.Helper()
		ok, err := s.Claim(ctx, scope, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	t.Run("an ID is claimed once per scope", func(t *testing.T) {
		s := bus.NewMemoryIdempotencyStore(10, time.Hour)
		if !claim(t, s, "a", "1") || claim(t, s, "a", "1") {
			t.Fatal("a second claim of the same ID succeeded")
		}
		if !claim(t, s, "b", "1") {
			t.Fatal("another scope could not claim the ID")
		}
		_ = s.Complete(ctx, "a", "1")
		if claim(t, s, "a", "1") {
			t.Fatal("a completed ID was claimed again")
		}
	})
	t.Run("a released claim can be claimed again", func(t *testing.T) {
		s := bus.NewMemoryIdempotencyStore(10, time.Hour)
		claim(t, s, "a", "1")
		_ = s.Release(ctx, "a", "1")
		if !claim(t, s, "a", "1") {
			t.Fatal("a released ID could not be claimed")
		}
	})
	t.Run("the window is bounded by count, oldest first", func(t *testing.T) {
		s := bus.NewMemoryIdempotencyStore(3, time.Hour)
		for i := range 4 {
			claim(t, s, "a", strconv.Itoa(i))
			_ = s.Complete(ctx, "a", strconv.Itoa(i))
		}
		if s.Len() != 3 {
			t.Fatalf("Len = %d, want 3", s.Len())
		}
		if !claim(t, s, "a", "0") {
			t.Fatal("the oldest ID is still remembered past the window")
		}
		if claim(t, s, "a", "3") {
			t.Fatal("the newest ID was forgotten")
		}
	})
	t.Run("the window is bounded by age", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := bus.NewMemoryIdempotencyStore(100, time.Minute)
			claim(t, s, "a", "old")
			_ = s.Complete(ctx, "a", "old")
			time.Sleep(30 * time.Second)
			claim(t, s, "a", "young")
			time.Sleep(31 * time.Second)
			if s.Len() != 1 {
				t.Fatalf("Len = %d, want only the young ID", s.Len())
			}
			if !claim(t, s, "a", "old") || claim(t, s, "a", "young") {
				t.Fatal("expiry by age is wrong")
			}
		})
	})
	t.Run("its memory stays bounded under churn", func(t *testing.T) {
		s := bus.NewMemoryIdempotencyStore(16, time.Hour)
		for i := range 100_000 {
			id := strconv.Itoa(i % 50)
			if claim(t, s, "a", id) {
				if i%3 == 0 {
					_ = s.Release(ctx, "a", id)
				} else {
					_ = s.Complete(ctx, "a", id)
				}
			}
		}
		if n := s.Len(); n > 16 {
			t.Fatalf("Len = %d, want at most 16", n)
		}
		// Len counts the live IDs only. Every claim and completion also
		// appends a record to the store's log, and released or superseded
		// records linger there until compaction: 100,000 operations must
		// not leave a log that grows with them.
		const bound = 4*16 + 4096
		if n, c := bus.IdempotencyLog(s); n > bound || c > 2*bound {
			t.Fatalf("the store's log holds %d records (capacity %d) for a window of 16, want at most %d", n, c, bound)
		}
	})
	t.Run("released claims do not pile up in its log while the window is far from full", func(t *testing.T) {
		const window = 1000
		s := bus.NewMemoryIdempotencyStore(window, time.Hour)
		// A completed ID, young and within the window, stays at the head
		// of the log: records behind it are not consumed from the front.
		claim(t, s, "a", "anchor")
		_ = s.Complete(ctx, "a", "anchor")
		for i := range 100_000 {
			id := strconv.Itoa(i % 5)
			if !claim(t, s, "a", id) {
				t.Fatalf("claim %d of a released ID failed", i)
			}
			_ = s.Release(ctx, "a", id)
		}
		// Nothing is ever evicted (6 IDs in a window of 1000, all young):
		// only dropping the records of released claims bounds the log.
		const bound = 4*window + 4096
		if n, c := bus.IdempotencyLog(s); n > bound || c > 2*bound {
			t.Fatalf("the store's log holds %d records (capacity %d) for at most 6 live IDs, want at most %d", n, c, bound)
		}
	})
}
