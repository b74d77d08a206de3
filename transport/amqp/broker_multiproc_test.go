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

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

// The multi-process test runs this test binary again as child processes:
// three members of one consumer group and one plain subscriber. Each child
// writes a line per handling to its stdout before the handler returns (so
// before the broker hears of it), which survives a SIGKILL.
const (
	childEnv       = "NOVA_BROKER_CHILD"        // role: "member" or "subscriber"
	childPrefixEnv = "NOVA_BROKER_CHILD_PREFIX" // the shared name prefix
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
	if err := b.CreateTopic(mpTopic, mpTopicConfig()); err != nil {
		t.Fatal(err)
	}
	var out sync.Mutex
	emit := func(format string, args ...any) {
		out.Lock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
		out.Unlock()
	}
	l := shared.NewBaseListener(role, func(e shared.Event) error {
		emit("H %s %d", e.ID(), time.Now().UnixNano())
		return nil
	})
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
}

type handling struct {
	id string
	at int64
}

func startChild(t *testing.T, name, role, prefix string, progress chan struct{}) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokerChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+role, childPrefixEnv+"="+prefix, "NOVA_AMQP_URL="+brokerURL())
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
		ready: make(chan struct{}), done: make(chan struct{}), progress: progress}
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

func TestBrokerMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	requireBroker(t)
	events := 30000
	if v, err := strconv.Atoi(os.Getenv("NOVA_MULTIPROC_EVENTS")); err == nil && v > 0 {
		events = v
	}
	prefix := uniqueName(t)
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
	if err := pb.CreateTopic(mpTopic, mpTopicConfig()); err != nil {
		t.Fatal(err)
	}

	progress := make(chan struct{}, 1)
	members := []*child{
		startChild(t, "member-0", "member", prefix, progress),
		startChild(t, "member-1", "member", prefix, progress),
		startChild(t, "member-2", "member", prefix, progress),
	}
	sub := startChild(t, "subscriber", "subscriber", prefix, progress)
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

	// Publish from one goroutine, confirms pipelined; kill a member a third
	// of the way.
	killAt := events / 3
	var killed time.Time
	victim := members[2]
	start := time.Now()
	receipts := make([]*bus.PublishReceipt, 0, events)
	for i := range events {
		r, err := pb.PublishAsync(context.Background(), mpTopic, mpEvent(i))
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, r)
		if i == killAt {
			killed = time.Now()
			if err := victim.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, r := range receipts {
		if err := r.Wait(testCtx(t, time.Minute)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	published := time.Since(start)

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
