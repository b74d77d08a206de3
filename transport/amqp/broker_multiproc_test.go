package amqp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store/postgres"
	"github.com/novaevents/nova/store/postgres/effecttest"
	"github.com/novaevents/nova/transport/amqp"
)

// The multi-process test runs this test binary again as child processes:
// three members of one consumer group and one plain subscriber. Each child
// writes a line per handling to its stdout before the handler returns (so
// before the broker hears of it), which survives a SIGKILL.
const (
	childEnv       = "NOVA_BROKER_CHILD"        // role: "member" or "subscriber"
	childPrefixEnv = "NOVA_BROKER_CHILD_PREFIX" // the shared name prefix
	childPGEnv     = "NOVA_BROKER_CHILD_PG"     // ExactlyOnce: the schema prefix in PostgreSQL
	mpTopic        = "orders"
	mpGroup        = "billing"
	mpPartitions   = 12
	mpKeys         = 100
)

func mpTopicConfig() bus.TopicConfig {
	return bus.TopicConfig{Partitions: mpPartitions, OrderingKey: keyOf}
}

func mpBrokerConfig(prefix string) amqp.BrokerConfig {
	return amqp.BrokerConfig{Prefix: prefix, Heartbeat: 250 * time.Millisecond, PeerTimeout: 2 * time.Second}
}

// TestBrokerChildProcess is the body of a child process; it does nothing
// in a normal run.
func TestBrokerChildProcess(t *testing.T) {
	role := os.Getenv(childEnv)
	if role == "" {
		t.Skip("runs only as a child of TestBrokerMultiProcess")
	}
	prefix := os.Getenv(childPrefixEnv)
	ctx := context.Background()
	client, err := amqp.Dial(ctx, amqp.Config{URL: brokerURL(), Name: "nova-child-" + role})
	if err != nil {
		t.Fatal(err)
	}
	cfg := mpBrokerConfig(prefix)
	cfg.Events.Registry = testRegistry(t)
	broker, err := client.NewBroker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := bus.New(bus.Config{Broker: broker})
	var out sync.Mutex
	emit := func(format string, args ...any) {
		out.Lock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
		out.Unlock()
	}
	// An H line is written when the handler is called, before its effect
	// (if any) commits: a call cut by the SIGKILL is counted too.
	var l shared.Listener = shared.NewBaseListener(role, func(e shared.Event) error {
		emit("H %s %d", e.ID(), time.Now().UnixNano())
		return nil
	})
	tc := mpTopicConfig()
	if pg := os.Getenv(childPGEnv); pg != "" {
		ids, fx := childEffects(t, pg, role)
		tc.DeliveryMode, tc.IdempotencyStore = bus.ExactlyOnce, ids
		l, err = ids.Transactional(role, shared.NewListener(role, func(ctx context.Context, e shared.Event) error {
			emit("H %s %d", e.ID(), time.Now().UnixNano())
			return fx.Write(ctx, e)
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := b.CreateTopic(mpTopic, tc); err != nil {
		t.Fatal(err)
	}
	if role == "member" {
		_, err = b.SubscribeGroup(mpTopic, mpGroup, l)
	} else {
		_, err = b.SubscribeE(mpTopic, l)
	}
	if err != nil {
		t.Fatal(err)
	}
	emit("READY")
	stdinDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinDone)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-tick.C:
			emit("HELD %d", len(amqp.HeldPartitions(broker, mpTopic, mpGroup)))
		case <-stdinDone:
			done = true
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		t.Error(err)
	}
	if err := broker.Close(sctx); err != nil {
		t.Error(err)
	}
	if err := client.Close(sctx); err != nil {
		t.Error(err)
	}
}

// child is a running child process seen from the parent.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	held  chan int // HELD reports
	ready chan struct{}
	done  chan struct{} // stdout closed

	mu       sync.Mutex
	handled  []handling
	progress chan struct{} // shared by the children: a handling arrived
	calls    chan struct{} // this child's: a handling arrived
}

type handling struct {
	id string
	at int64
}

func startChild(t *testing.T, name, role, prefix, pg string, progress chan struct{}) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokerChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+role, childPrefixEnv+"="+prefix, "NOVA_AMQP_URL="+brokerURL(), childPGEnv+"="+pg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, held: make(chan int, 1),
		ready: make(chan struct{}), done: make(chan struct{}), progress: progress, calls: make(chan struct{}, 1)}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 1 && f[0] == "READY":
				close(c.ready)
			case len(f) == 2 && f[0] == "HELD":
				n, _ := strconv.Atoi(f[1])
				select {
				case <-c.held:
				default:
				}
				c.held <- n
			case len(f) == 3 && f[0] == "H":
				at, _ := strconv.ParseInt(f[2], 10, 64)
				c.mu.Lock()
				c.handled = append(c.handled, handling{f[1], at})
				c.mu.Unlock()
				select {
				case c.calls <- struct{}{}:
				default:
				}
				select {
				case c.progress <- struct{}{}:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.stdin.Close()
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case <-waited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
	})
	return c
}

func (c *child) handlings() []handling {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.handled)
}

// waitHeld waits until the child reports holding n partitions.
func (c *child) waitHeld(t *testing.T, n int, deadline <-chan time.Time) {
	t.Helper()
	for {
		select {
		case got := <-c.held:
			if got == n {
				return
			}
		case <-c.done:
			t.Fatalf("%s exited", c.name)
		case <-deadline:
			t.Fatalf("%s did not come to hold %d partitions", c.name, n)
		}
	}
}

// TestBrokerMultiProcess: 3 members of a consumer group and 1 plain
// subscriber in 4 processes, 30,000 events over 100 ordering keys, one
// member killed with SIGKILL a third of the way.
func TestBrokerMultiProcess(t *testing.T) {
	runMultiProcess(t, 30000, false)
}

// TestBrokerMultiProcessExactlyOnce is the same on an ExactlyOnce topic
// whose IdempotencyStore is PostgreSQL's, with handlers that write one
// effect row per call through postgres.Transactional: after the kill, the
// database holds exactly one row per event for the group and one for the
// subscriber, however many handler calls the kill cut or repeated.
func TestBrokerMultiProcessExactlyOnce(t *testing.T) {
	runMultiProcess(t, 10000, true)
}

func runMultiProcess(t *testing.T, events int, exactlyOnce bool) {
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	requireBroker(t)
	if v, err := strconv.Atoi(os.Getenv("NOVA_MULTIPROC_EVENTS")); err == nil && v > 0 {
		events = v
	}
	prefix := uniqueName(t)
	var pg string
	var groupFx, subFx *effecttest.Table
	if exactlyOnce {
		pg, groupFx, subFx = parentEffects(t, prefix)
	}
	cfg := mpBrokerConfig(prefix)
	cfg.Events.Registry = testRegistry(t)
	pub, _ := newBroker(t, cfg)
	t.Cleanup(func() {
		if err := pub.DeleteGroup(testCtx(t, 20*time.Second), mpTopic, mpGroup); err != nil {
			t.Errorf("DeleteGroup: %v", err)
		}
	})
	pb := bus.New(bus.Config{Broker: pub})
	t.Cleanup(func() { _ = pb.Shutdown(testCtx(t, 20*time.Second)) })
	tc := mpTopicConfig()
	if exactlyOnce {
		tc.DeliveryMode = bus.ExactlyOnce // deduplication happens where events are consumed
	}
	if err := pb.CreateTopic(mpTopic, tc); err != nil {
		t.Fatal(err)
	}

	progress := make(chan struct{}, 1)
	members := []*child{
		startChild(t, "member-0", "member", prefix, pg, progress),
		startChild(t, "member-1", "member", prefix, pg, progress),
		startChild(t, "member-2", "member", prefix, pg, progress),
	}
	sub := startChild(t, "subscriber", "subscriber", prefix, pg, progress)
	deadline := time.After(180 * time.Second)
	for _, c := range append(slices.Clone(members), sub) {
		select {
		case <-c.ready:
		case <-c.done:
			t.Fatalf("%s exited before it was ready", c.name)
		case <-deadline:
			t.Fatalf("%s not ready", c.name)
		}
	}
	for _, c := range members {
		c.waitHeld(t, mpPartitions/len(members), deadline)
	}

	// Publish from one goroutine, confirms pipelined. A third of the way,
	// kill a member just after it reported a handler call: most likely in
	// the middle of that handling (before its effect committed, before the
	// broker heard of it).
	killAt := events / 3
	victim := members[2]
	killedAt := make(chan time.Time, 1)
	start := time.Now()
	receipts := make([]*bus.PublishReceipt, 0, events)
	for i := range events {
		r, err := pb.PublishAsync(context.Background(), mpTopic, mpEvent(i))
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, r)
		if i == killAt {
			go func() {
				select {
				case <-victim.calls: // an older call
				default:
				}
				select {
				case <-victim.calls:
				case <-time.After(30 * time.Second): // a stuck victim is killed all the same
				}
				_ = victim.cmd.Process.Kill()
				killedAt <- time.Now()
			}()
		}
	}
	for i, r := range receipts {
		if err := r.Wait(testCtx(t, time.Minute)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	published := time.Since(start)
	killed := <-killedAt

	// Wait until the group and the subscriber have every event.
	waitAll := func(name string, cs []*child) {
		t.Helper()
		for {
			seen := map[string]bool{}
			for _, c := range cs {
				for _, h := range c.handlings() {
					seen[h.id] = true
				}
			}
			if len(seen) >= events {
				return
			}
			select {
			case <-progress:
			case <-deadline:
				t.Fatalf("%s handled %d of %d events", name, len(seen), events)
			}
		}
	}
	waitAll("the group", members)
	waitAll("the subscriber", []*child{sub})
	took := time.Since(start)

	// The group: every event at least once, first handlings per key in
	// publish order, nobody above half while all three lived.
	type first struct {
		at     int64
		member int
	}
	firsts := map[string]first{}
	var all []handling
	dups := 0
	before := make([]int, len(members))
	for m, c := range members {
		for _, h := range c.handlings() {
			all = append(all, h)
			if h.at < killed.UnixNano() {
				before[m]++
			}
			if f, ok := firsts[h.id]; ok {
				dups++
				if h.at < f.at {
					firsts[h.id] = first{h.at, m}
				}
				continue
			}
			firsts[h.id] = first{h.at, m}
		}
	}
	if len(firsts) != events {
		t.Fatalf("the group handled %d distinct events, want %d", len(firsts), events)
	}
	groupFirst := make(map[string]int64, len(firsts))
	for id, f := range firsts {
		groupFirst[id] = f.at
	}
	checkKeyOrder(t, "the group", groupFirst)
	total := before[0] + before[1] + before[2]
	for m, n := range before {
		if 2*n > total {
			t.Errorf("member-%d handled %d of the %d events handled while all three lived: more than half", m, n, total)
		}
	}

	// Failover: for each partition the victim held, the time from the kill
	// to a survivor's first handling in it.
	partOf := func(id string) int {
		i, _ := strconv.Atoi(strings.TrimPrefix(id, "e"))
		return bus.PartitionFor("c"+strconv.Itoa(i%mpKeys), mpPartitions)
	}
	victimParts := map[int]bool{}
	for _, h := range victim.handlings() {
		victimParts[partOf(h.id)] = true
	}
	var failover time.Duration
	for p := range victimParts {
		firstAfter := int64(-1)
		for _, c := range members[:2] {
			for _, h := range c.handlings() {
				if h.at >= killed.UnixNano() && partOf(h.id) == p && (firstAfter < 0 || h.at < firstAfter) {
					firstAfter = h.at
				}
			}
		}
		if d := time.Duration(firstAfter - killed.UnixNano()); firstAfter > 0 && d > failover {
			failover = d
		}
	}

	// The subscriber: every event exactly once, in key order.
	subFirst := map[string]int64{}
	subDups := 0
	for _, h := range sub.handlings() {
		if _, ok := subFirst[h.id]; ok {
			subDups++
			continue
		}
		subFirst[h.id] = h.at
	}
	if len(subFirst) != events || subDups != 0 {
		t.Errorf("the subscriber handled %d distinct events with %d duplicates, want %d and 0", len(subFirst), subDups, events)
	}
	checkKeyOrder(t, "the subscriber", subFirst)
	t.Logf("%d events over %d keys: published in %v, all handled after %v; group duplicates %d (after the SIGKILL of %s); handled per member before the kill: %v; failover of the %d partitions it held: %v",
		events, mpKeys, published.Round(time.Millisecond), took.Round(time.Millisecond), dups, victim.name, before, len(victimParts), failover.Round(time.Millisecond))
	if !exactlyOnce {
		return
	}
	// Counted in the database: one effect row per event, for the group and
	// for the subscriber. The group's handler calls include those the kill
	// cut (rolled back by PostgreSQL) and the repeats of what the victim had
	// handled but not acknowledged.
	calls := 0
	for _, c := range members {
		calls += len(c.handlings())
	}
	for who, fx := range map[string]*effecttest.Table{"the group": groupFx, "the subscriber": subFx} {
		n, err := fx.Count(testCtx(t, 30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if n.Rows != int64(events) || n.Events != int64(events) || n.Duplicates != 0 {
			rep, _ := fx.Repeated(testCtx(t, 30*time.Second), 5)
			t.Errorf("%s: %d effect rows for %d distinct events (%d repeated, e.g. %q), want exactly one row for each of the %d events",
				who, n.Rows, n.Events, n.Duplicates, rep, events)
		}
	}
	t.Logf("ExactlyOnce on PostgreSQL: the group's handler was called %d times for %d events (%d more: cut by the kill or redelivered); %d effect rows each for the group and the subscriber",
		calls, events, calls-events, events)
}

// parentEffects creates the PostgreSQL schemas of an ExactlyOnce run (the
// idempotency store's and one effect table each for the group and the
// subscriber), dropped when the test ends. It returns the prefix the
// children derive the schema names from.
func parentEffects(t *testing.T, prefix string) (string, *effecttest.Table, *effecttest.Table) {
	t.Helper()
	pool := pgTestPool(t)
	pg := strings.ToLower(unsafeName.ReplaceAllString(prefix, "_"))
	ctx := testCtx(t, 30*time.Second)
	var tables []*effecttest.Table
	for _, role := range []string{"member", "subscriber"} {
		fx, err := effecttest.Create(ctx, pool, pg+"_"+role)
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, fx)
	}
	t.Cleanup(func() {
		for _, s := range []string{pg + "_ids", pg + "_member", pg + "_subscriber"} {
			if _, err := pool.Exec(testCtx(t, 20*time.Second), "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
				t.Errorf("dropping schema %s: %v", s, err)
			}
		}
	})
	return pg, tables[0], tables[1]
}

// childEffects is a child's side of parentEffects: its connection pool, the
// shared idempotency store and its role's effect table.
func childEffects(t *testing.T, pg, role string) (*postgres.IdempotencyStore, *effecttest.Table) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	pcfg, err := pgxpool.ParseConfig(postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	// A Transactional call holds a connection while its handler runs; the
	// member may run all 12 partitions after a failover, and the bus's
	// claims need theirs.
	pcfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := postgres.NewIdempotencyStore(ctx, pool, postgres.IdempotencyConfig{Schema: pg + "_ids"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ids.Close()
		pool.Close()
	})
	fx, err := effecttest.Create(ctx, pool, pg+"_"+role)
	if err != nil {
		t.Fatal(err)
	}
	return ids, fx
}

// postgresURL is the database of the ExactlyOnce test: NOVA_POSTGRES_URL,
// by default the loopback server.
func postgresURL() string {
	if u := os.Getenv("NOVA_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test"
}

// pgTestPool connects to postgresURL, or skips the test (fails it under
// NOVA_REQUIRE_SERVICES=1) when PostgreSQL is unreachable.
func pgTestPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := testCtx(t, 5*time.Second)
	pool, err := pgxpool.New(ctx, postgresURL())
	if err == nil {
		if err = pool.Ping(ctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL unreachable at %s (%v); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start", postgresURL(), err)
		if os.Getenv("NOVA_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(pool.Close)
	return pool
}

func mpEvent(i int) shared.Event { return placed(i, mpKeys) }

// checkKeyOrder checks that, per key, the events' first handlings are in
// publish order (event i has key i mod mpKeys).
func checkKeyOrder(t *testing.T, who string, firsts map[string]int64) {
	t.Helper()
	last := map[int]int64{}
	bad := 0
	for i := range len(firsts) {
		at, ok := firsts["e"+strconv.Itoa(i)]
		if !ok {
			continue
		}
		k := i % mpKeys
		if prev, ok := last[k]; ok && at < prev {
			bad++
			if bad <= 5 {
				t.Errorf("%s: key c%d: e%d first handled before the event published just before it", who, k, i)
			}
		}
		last[k] = at
	}
}
