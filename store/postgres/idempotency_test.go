package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/store/postgres"
)

var _ bus.IdempotencyStore = (*postgres.IdempotencyStore)(nil)

// newIdem opens an idempotency store in schema (a fresh one if empty),
// closed when the test ends.
func newIdem(tb testing.TB, schema string, cfg postgres.IdempotencyConfig) *postgres.IdempotencyStore {
	tb.Helper()
	p := testPool(tb)
	if schema == "" {
		schema = newSchema(tb)
	}
	cfg.Schema = schema
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := postgres.NewIdempotencyStore(ctx, p, cfg)
	if err != nil {
		tb.Fatalf("NewIdempotencyStore: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// countRows counts the rows of table in schema.
func countRows(tb testing.TB, schema, table string) int64 {
	tb.Helper()
	var n int64
	q := "SELECT count(*) FROM " + pgx.Identifier{schema, table}.Sanitize()
	if err := testPool(tb).QueryRow(context.Background(), q).Scan(&n); err != nil {
		tb.Fatalf("counting %s: %v", table, err)
	}
	return n
}

func mustClaim(t *testing.T, s *postgres.IdempotencyStore, scope, id string, want bool) {
	t.Helper()
	got, err := s.Claim(context.Background(), scope, id)
	if err != nil {
		t.Fatalf("Claim(%q, %q): %v", scope, id, err)
	}
	if got != want {
		t.Fatalf("Claim(%q, %q) = %v, want %v", scope, id, got, want)
	}
}

// mustBeHeld claims id and expects ErrClaimHeld.
func mustBeHeld(t *testing.T, s *postgres.IdempotencyStore, scope, id string) {
	t.Helper()
	if ok, err := s.Claim(context.Background(), scope, id); ok || !errors.Is(err, postgres.ErrClaimHeld) {
		t.Fatalf("Claim(%q, %q) = %v, %v; want ErrClaimHeld", scope, id, ok, err)
	}
}

// noWait makes Claim answer at once for a claim another live holder has.
var noWait = postgres.IdempotencyConfig{HeldClaimWait: -1}

func TestIdempotencyLifecycle(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	a := newIdem(t, schema, noWait)
	b := newIdem(t, schema, noWait)

	t.Run("a claim is refused to its holder and held against others until completed, then refused to all", func(t *testing.T) {
		mustClaim(t, a, "s", "e1", true)
		mustClaim(t, a, "s", "e1", false)
		mustBeHeld(t, b, "s", "e1")
		if err := a.Complete(ctx, "s", "e1"); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, a, "s", "e1", false)
		mustClaim(t, b, "s", "e1", false)
	})
	t.Run("a released claim can be claimed again", func(t *testing.T) {
		mustClaim(t, a, "s", "e2", true)
		if err := a.Release(ctx, "s", "e2"); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, b, "s", "e2", true)
	})
	t.Run("release never forgets a completion", func(t *testing.T) {
		mustClaim(t, a, "s", "e3", true)
		if err := a.Complete(ctx, "s", "e3"); err != nil {
			t.Fatal(err)
		}
		if err := a.Release(ctx, "s", "e3"); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, b, "s", "e3", false)
	})
	t.Run("release by another holder leaves the claim", func(t *testing.T) {
		mustClaim(t, a, "s", "e4", true)
		if err := b.Release(ctx, "s", "e4"); err != nil {
			t.Fatal(err)
		}
		mustBeHeld(t, b, "s", "e4")
	})
	t.Run("complete without a claim records the event", func(t *testing.T) {
		if err := b.Complete(ctx, "s", "e5"); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, a, "s", "e5", false)
	})
	t.Run("scopes are independent", func(t *testing.T) {
		mustClaim(t, a, "other", "e1", true)
	})
	if got := a.Stats(); got.Claimed != 5 || got.Refused != 3 || got.Completed != 2 || got.Released != 2 {
		t.Errorf("a.Stats() = %+v", got)
	}
	if got := b.Stats(); got.Held != 2 {
		t.Errorf("b.Stats() = %+v, want 2 held", got)
	}
}

func TestIdempotencyKeysAreKeptAsBytes(t *testing.T) {
	s := newIdem(t, "", postgres.IdempotencyConfig{})
	// The bus's own scopes contain a NUL byte; event IDs are any non-empty
	// strings. Each must be its own key, never confused with its neighbours.
	keys := []struct{ scope, id string }{
		{"orders\x00group:billing", "e"},
		{"orders", "e"},
		{"orders\x00group:billinh", "e"},
		{"s", "a\x00b"},
		{"s", "a"},
		{"s", "a\x00c"},
		{"s", "\xff"},
		{"s", "\xfe"},
		{"\xff\xfe", "\xc3("},
		{"s", strings.Repeat("x", postgres.MaxIdempotencyKey)},
	}
	for _, k := range keys {
		mustClaim(t, s, k.scope, k.id, true)
	}
	for _, k := range keys {
		mustClaim(t, s, k.scope, k.id, false)
	}
}

func TestIdempotencyRefusesBadInput(t *testing.T) {
	schema := newSchema(t)
	s := newIdem(t, schema, postgres.IdempotencyConfig{})
	long := strings.Repeat("x", postgres.MaxIdempotencyKey+1)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name      string
		ctx       context.Context
		scope, id string
		want      error
	}{
		{"an empty scope is refused", context.Background(), "", "e", postgres.ErrInvalidArgument},
		{"an empty ID is refused", context.Background(), "s", "", postgres.ErrInvalidArgument},
		{"an overlong scope is refused", context.Background(), long, "e", postgres.ErrInvalidArgument},
		{"an overlong ID is refused", context.Background(), "s", long, postgres.ErrInvalidArgument},
		{"a nil context is refused", nil, "s", "e", postgres.ErrInvalidArgument},
		{"a cancelled context gives its error", cancelled, "s", "e", context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.Claim(c.ctx, c.scope, c.id); !errors.Is(err, c.want) {
				t.Errorf("Claim: %v, want %v", err, c.want)
			}
			if err := s.Complete(c.ctx, c.scope, c.id); !errors.Is(err, c.want) {
				t.Errorf("Complete: %v, want %v", err, c.want)
			}
			if err := s.Release(c.ctx, c.scope, c.id); !errors.Is(err, c.want) {
				t.Errorf("Release: %v, want %v", err, c.want)
			}
		})
	}
	if n := countRows(t, schema, "nova_idempotency"); n != 0 {
		t.Errorf("refused calls left %d records", n)
	}

	t.Run("a closed store refuses calls and its records stay", func(t *testing.T) {
		mustClaim(t, s, "s", "kept", true)
		if err := s.Complete(context.Background(), "s", "kept"); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		ctx := context.Background()
		if _, err := s.Claim(ctx, "s", "e"); !errors.Is(err, postgres.ErrClosed) {
			t.Errorf("Claim: %v, want ErrClosed", err)
		}
		if err := s.Complete(ctx, "s", "e"); !errors.Is(err, postgres.ErrClosed) {
			t.Errorf("Complete: %v, want ErrClosed", err)
		}
		if err := s.Release(ctx, "s", "e"); !errors.Is(err, postgres.ErrClosed) {
			t.Errorf("Release: %v, want ErrClosed", err)
		}
		if _, err := s.Purge(ctx); !errors.Is(err, postgres.ErrClosed) {
			t.Errorf("Purge: %v, want ErrClosed", err)
		}
		other := newIdem(t, schema, postgres.IdempotencyConfig{})
		mustClaim(t, other, "s", "kept", false)
	})

	t.Run("a configuration it cannot use is refused", func(t *testing.T) {
		ctx := context.Background()
		if _, err := postgres.NewIdempotencyStore(ctx, nil, postgres.IdempotencyConfig{}); !errors.Is(err, postgres.ErrConfig) {
			t.Errorf("nil pool: %v, want ErrConfig", err)
		}
		if _, err := postgres.NewIdempotencyStore(ctx, testPool(t), postgres.IdempotencyConfig{ClaimTTL: -time.Second}); !errors.Is(err, postgres.ErrConfig) {
			t.Errorf("negative TTL: %v, want ErrConfig", err)
		}
	})
}

func TestIdempotencyExpiry(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	cfg := postgres.IdempotencyConfig{ClaimTTL: time.Minute, Retention: time.Hour, PurgeInterval: -1, HeldClaimWait: -1}
	a := newIdem(t, schema, cfg)
	b := newIdem(t, schema, cfg)

	mustClaim(t, a, "s", "claimed", true)
	mustClaim(t, a, "s", "done", true)
	if err := a.Complete(ctx, "s", "done"); err != nil {
		t.Fatal(err)
	}

	t.Run("a live holder's claim holds until its TTL", func(t *testing.T) {
		postgres.AdvanceClock(b, 59*time.Second)
		mustBeHeld(t, b, "s", "claimed")
	})
	t.Run("after its TTL a live holder's claim can be taken over, once", func(t *testing.T) {
		postgres.AdvanceClock(b, 2*time.Second)
		mustClaim(t, b, "s", "claimed", true)
		mustClaim(t, b, "s", "claimed", false)
		mustBeHeld(t, a, "s", "claimed")
		if got := b.Stats().TakenOver; got != 1 {
			t.Errorf("TakenOver = %d, want 1", got)
		}
	})
	t.Run("the old holder's release leaves the new holder's claim", func(t *testing.T) {
		if err := a.Release(ctx, "s", "claimed"); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, b, "s", "claimed", false)
	})
	t.Run("a completion is remembered for its retention", func(t *testing.T) {
		mustClaim(t, b, "s", "done", false)
		postgres.AdvanceClock(b, time.Hour)
		mustClaim(t, b, "s", "done", true)
	})
	t.Run("purge deletes expired records and only those", func(t *testing.T) {
		c := newIdem(t, schema, cfg)
		mustClaim(t, c, "s", "fresh", true)
		postgres.AdvanceClock(c, 30*time.Second)
		if n, err := c.Purge(ctx); err != nil || n != 0 {
			t.Fatalf("Purge = %d, %v; want 0 expired", n, err)
		}
		postgres.AdvanceClock(c, 2*time.Hour)
		n, err := c.Purge(ctx)
		if err != nil || n != 3 {
			t.Fatalf("Purge = %d, %v; want 3", n, err)
		}
		if left := countRows(t, schema, "nova_idempotency"); left != 0 {
			t.Errorf("%d records left", left)
		}
	})
}

func TestIdempotencyDeadHolder(t *testing.T) {
	schema := newSchema(t)
	a := newIdem(t, schema, noWait)
	b := newIdem(t, schema, noWait)
	mustClaim(t, a, "s", "e", true)
	mustBeHeld(t, b, "s", "e")
	// Close gives the lease back, as a dead process's session does: the
	// claim can be taken over at once, long before its TTL. (Close returns
	// once the lock is free; a killed process's is freed a moment after its
	// connection closes, which HeldClaimWait covers: see the crash tests.)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, b, "s", "e", true)
	if got := b.Stats(); got.TakenOver != 1 || got.Held != 1 {
		t.Errorf("b.Stats() = %+v", got)
	}
}

// A claimer that finds another live holder's claim waits for it to change.
func TestIdempotencyHeldClaimWait(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	waiting := postgres.IdempotencyConfig{HeldClaimWait: 30 * time.Second}
	cases := []struct {
		name string
		then func(a *postgres.IdempotencyStore, scope string) error
		want bool
	}{
		{"the holder completes: false", func(a *postgres.IdempotencyStore, scope string) error { return a.Complete(ctx, scope, "e") }, false},
		{"the holder releases: true", func(a *postgres.IdempotencyStore, scope string) error { return a.Release(ctx, scope, "e") }, true},
		{"the holder dies: true", func(a *postgres.IdempotencyStore, _ string) error { return a.Close() }, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			scope := fmt.Sprint("s", i)
			a := newIdem(t, schema, noWait)
			b := newIdem(t, schema, waiting)
			mustClaim(t, a, scope, "e", true)
			got := make(chan error, 1)
			go func() {
				ok, err := b.Claim(ctx, scope, "e")
				if err == nil && ok != c.want {
					err = fmt.Errorf("Claim = %v, want %v", ok, c.want)
				}
				got <- err
			}()
			// Whether b is already waiting or not yet asking, the answer is
			// the same.
			if err := c.then(a, scope); err != nil {
				t.Fatal(err)
			}
			if err := <-got; err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("a cancelled wait returns the context's error", func(t *testing.T) {
		a := newIdem(t, schema, noWait)
		b := newIdem(t, schema, waiting)
		mustClaim(t, a, "c", "e", true)
		cctx, cancel := context.WithCancel(ctx)
		got := make(chan error, 1)
		go func() {
			_, err := b.Claim(cctx, "c", "e")
			got <- err
		}()
		cancel()
		if err := <-got; !errors.Is(err, context.Canceled) {
			t.Fatalf("Claim = %v, want context.Canceled", err)
		}
	})
}

func TestIdempotencyConcurrentClaimsHaveOneWinner(t *testing.T) {
	const (
		stores  = 4 // independent holders, as separate processes are
		workers = 3 // goroutines per store
		ids     = 50
	)
	schema := newSchema(t)
	cfg := postgres.IdempotencyConfig{ClaimTTL: time.Minute, HeldClaimWait: -1}
	var ss []*postgres.IdempotencyStore
	for range stores {
		ss = append(ss, newIdem(t, schema, cfg))
	}
	race := func(t *testing.T, claim func(s *postgres.IdempotencyStore, id string) (bool, error)) {
		var mu sync.Mutex
		wins := map[string]int{}
		var wg sync.WaitGroup
		for _, s := range ss {
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range ids {
						id := fmt.Sprint("e", i)
						ok, err := claim(s, id)
						if errors.Is(err, postgres.ErrClaimHeld) {
							continue // another holder won it
						}
						if err != nil {
							t.Error(err)
							return
						}
						if ok {
							mu.Lock()
							wins[id]++
							mu.Unlock()
						}
					}
				}()
			}
		}
		wg.Wait()
		for i := range ids {
			if id := fmt.Sprint("e", i); wins[id] != 1 {
				t.Errorf("%s claimed %d times, want once", id, wins[id])
			}
		}
	}
	t.Run("new events", func(t *testing.T) {
		race(t, func(s *postgres.IdempotencyStore, id string) (bool, error) {
			return s.Claim(context.Background(), "new", id)
		})
	})
	t.Run("expired claims taken over", func(t *testing.T) {
		for i := range ids {
			mustClaim(t, ss[0], "old", fmt.Sprint("e", i), true)
		}
		for _, s := range ss {
			postgres.AdvanceClock(s, 2*time.Minute)
		}
		race(t, func(s *postgres.IdempotencyStore, id string) (bool, error) {
			return s.Claim(context.Background(), "old", id)
		})
	})
}
