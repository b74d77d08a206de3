package postgres_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store/postgres"
	"github.com/novaevents/nova/store/postgres/effecttest"
)

// The child processes of these tests are this test binary, run as
// TestIdempotencyChild with NOVA_IDEM_CHILD naming what to do.
const (
	childEnv      = "NOVA_IDEM_CHILD"
	childSchema   = "NOVA_IDEM_SCHEMA"
	crashEvents   = 40
	crashAt       = 17 // the event the child is killed on
	crashTopic    = "orders"
	crashGroup    = "billing"
	crashFxScope  = "orders/billing"
	raceChildren  = 3
	raceChildIDs  = 300
	raceScope     = "race"
	childDeadline = 60 * time.Second
)

// child starts this test binary as a child process doing mode, and returns
// it with a reader of its standard output.
func child(t *testing.T, mode, schema string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdempotencyChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childSchema+"="+schema, "NOVA_POSTGRES_URL="+databaseURL())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, bufio.NewScanner(out), in
}

// expectLine reads the child's output until a line starting with prefix,
// and returns that line.
func expectLine(t *testing.T, sc *bufio.Scanner, prefix string) string {
	t.Helper()
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("child ended without printing %q: %v", prefix, sc.Err())
	return ""
}

// crashBus is a process's bus for the crash tests: the topic on one
// partition (so events go in order), ExactlyOnce through ids, and a
// consumer group whose handler writes its effect through Transactional.
func crashBus(t testing.TB, ids *postgres.IdempotencyStore, l shared.Listener) *bus.Bus {
	b := bus.New(bus.Config{})
	err := b.CreateTopic(crashTopic, bus.TopicConfig{
		Partitions:       1,
		DeliveryMode:     bus.ExactlyOnce,
		IdempotencyStore: ids,
		RetryPolicy:      listener.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond},
	})
	if err == nil {
		_, err = b.SubscribeGroup(crashTopic, crashGroup, l)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func publishAll(t testing.TB, b *bus.Bus) {
	for i := range crashEvents {
		if err := b.Publish(context.Background(), crashTopic, event(fmt.Sprint("e", i))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIdempotencyChild is the child process's side; it does nothing in a
// normal run.
func TestIdempotencyChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("the child process of the crash tests")
	}
	schema := os.Getenv(childSchema)
	ctx := context.Background()
	cfg := postgres.IdempotencyConfig{Schema: schema}
	if mode == "race" {
		cfg.HeldClaimWait = -1
	}
	ids, err := postgres.NewIdempotencyStore(ctx, testPool(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ids.Close()
	switch mode {
	case "mid-handler", "after-commit":
		fx, err := effecttest.Create(ctx, testPool(t), schema)
		if err != nil {
			t.Fatal(err)
		}
		crash := fmt.Sprint("e", crashAt)
		inner := shared.NewListener("billing", func(ctx context.Context, e shared.Event) error {
			if err := fx.Write(ctx, e); err != nil {
				return err
			}
			if mode == "mid-handler" && e.ID() == crash {
				fmt.Println("EFFECT-WRITTEN", e.ID()) // and wait to be killed
				select {}
			}
			return nil
		})
		tl, err := ids.Transactional(crashFxScope, inner)
		if err != nil {
			t.Fatal(err)
		}
		outer := shared.NewListener("billing", func(ctx context.Context, e shared.Event) error {
			err := tl.Handle(ctx, e)
			if mode == "after-commit" && e.ID() == crash && err == nil {
				fmt.Println("COMMITTED", e.ID()) // before the bus completes it
				select {}
			}
			return err
		})
		publishAll(t, crashBus(t, ids, outer))
		select {}
	case "race":
		// Wait for the parent's go, so that the children claim at once.
		stdin := bufio.NewReader(os.Stdin)
		if _, err := stdin.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		var won []string
		for i := range raceChildIDs {
			id := fmt.Sprint("e", i)
			ok, err := ids.Claim(ctx, raceScope, id)
			if errors.Is(err, postgres.ErrClaimHeld) {
				continue // another process won it
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				won = append(won, id)
			}
		}
		fmt.Println("WON", strings.Join(won, " "))
		// Stay alive (holding the claims) until every child is done: a
		// child that exits drops its lease, and its claims are then fair
		// game for the others, as a dead holder's are.
		_, _ = stdin.ReadString('\n')
	default:
		t.Fatalf("unknown child mode %q", mode)
	}
}

// A process killed mid-handler, or after its commit and before the bus
// completes the event, and a second process that then gets every event
// again (as from a durable broker's redelivery): one effect per event,
// counted in the database.
func TestCrashLeavesOneEffectPerEvent(t *testing.T) {
	for _, mode := range []string{"mid-handler", "after-commit"} {
		t.Run("killed "+mode, func(t *testing.T) {
			schema := newSchema(t)
			fx := newEffects(t, schema)
			cmd, out, _ := child(t, mode, schema)
			line := expectLine(t, out, map[string]string{"mid-handler": "EFFECT-WRITTEN", "after-commit": "COMMITTED"}[mode])
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			t.Logf("child %d: %s, then SIGKILL", cmd.Process.Pid, line)

			ctx := context.Background()
			n, err := fx.Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			committed := int64(crashAt)
			if mode == "after-commit" {
				committed++
			}
			if n.Rows != committed || n.Duplicates != 0 {
				t.Fatalf("after the kill: %+v, want the %d events before it", n, committed)
			}

			// The second process: same group, same database, every event again.
			ids := newIdem(t, schema, postgres.IdempotencyConfig{})
			var calls atomic.Int64
			tl := transactional(t, ids, crashFxScope, effectListener(fx, &calls, nil))
			b := crashBus(t, ids, tl)
			publishAll(t, b)
			sctx, cancel := context.WithTimeout(ctx, childDeadline)
			defer cancel()
			if err := b.Shutdown(sctx); err != nil {
				t.Fatal(err)
			}
			wantEffects(t, fx, crashEvents)
			st := ids.Stats()
			t.Logf("second process: %+v, listener calls %d", st, calls.Load())
			// Events completed by the child are refused; the one it died on
			// is taken over at once (its lease died with it, far from the
			// 5m TTL); the rest are new.
			if st.Refused != crashAt || st.TakenOver != 1 || st.Claimed != crashEvents-crashAt {
				t.Errorf("claims: %+v", st)
			}
			wantCalls := int64(crashEvents - crashAt)
			if mode == "after-commit" {
				wantCalls-- // its effect committed: the wrapper skips it
				if st.Skipped != 1 {
					t.Errorf("Skipped = %d, want 1", st.Skipped)
				}
			}
			if calls.Load() != wantCalls {
				t.Errorf("listener called %d times, want %d", calls.Load(), wantCalls)
			}
		})
	}
}

// Processes claiming the same IDs at once: each ID is won by exactly one.
func TestConcurrentClaimsAcrossProcesses(t *testing.T) {
	schema := newSchema(t)
	newIdem(t, schema, postgres.IdempotencyConfig{}) // creates the table before the race
	type kid struct {
		out *bufio.Scanner
		in  io.WriteCloser
	}
	var kids []kid
	for range raceChildren {
		_, out, in := child(t, "race", schema)
		kids = append(kids, kid{out, in})
	}
	for _, k := range kids {
		if _, err := io.WriteString(k.in, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	wins := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	perChild := make([]int, len(kids))
	for i, k := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k.out.Scan() {
				if f := strings.Fields(k.out.Text()); len(f) > 0 && f[0] == "WON" {
					mu.Lock()
					for _, id := range f[1:] {
						wins[id]++
					}
					perChild[i] = len(f) - 1
					mu.Unlock()
					return
				}
			}
			t.Errorf("child %d printed no result", i)
		}()
	}
	wg.Wait()
	for _, k := range kids {
		_ = k.in.Close()
	}
	for i := range raceChildIDs {
		if id := "e" + strconv.Itoa(i); wins[id] != 1 {
			t.Errorf("%s won %d times, want once", id, wins[id])
		}
	}
	t.Logf("IDs won per process: %v", perChild)
}
