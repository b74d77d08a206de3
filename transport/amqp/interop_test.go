package amqp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

// nodeModules finds node and the interop program's npm packages (amqplib,
// cloudevents): NOVA_INTEROP_NODE_MODULES, which .ci/run sets after
// installing them from testdata/interop/package-lock.json, or
// testdata/interop/node_modules. Without them the test skips, saying how
// to install them, or fails under NOVA_REQUIRE_SERVICES=1.
func nodeModules(t *testing.T) (node, modules string) {
	t.Helper()
	const hint = "install Node 20 and npm, then run: (cd transport/amqp/testdata/interop && npm ci), " +
		"or set NOVA_INTEROP_NODE_MODULES to a node_modules folder with amqplib and cloudevents"
	missing := func(what string) {
		if os.Getenv("NOVA_REQUIRE_SERVICES") == "1" {
			t.Fatalf("interop test: %s; %s", what, hint)
		}
		t.Skipf("interop test skipped: %s; %s", what, hint)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found")
	}
	modules = os.Getenv("NOVA_INTEROP_NODE_MODULES")
	if modules == "" {
		modules, _ = filepath.Abs(filepath.Join("testdata", "interop", "node_modules"))
	}
	for _, pkg := range []string{"amqplib", "cloudevents"} {
		if _, err := os.Stat(filepath.Join(modules, pkg, "package.json")); err != nil {
			missing("npm package " + pkg + " not found in " + modules)
		}
	}
	return node, modules
}

// TestInteropWithNodeCloudEventsSDK exchanges events with a Node program
// that uses amqplib and the official CloudEvents SDK in strict mode (see
// testdata/interop/interop.js). The SDK must accept Nova's events, in
// binary and structured mode; the events it sends back, in both modes,
// must decode to exactly what Nova sent (attributes, metadata with keys
// such as customer_id, trace_id and Trace-ID, typed payload); and an event
// of its own must decode with every attribute.
func TestInteropWithNodeCloudEventsSDK(t *testing.T) {
	node, modules := nodeModules(t)
	f := newFixture(t)
	ctx := testCtx(t, 60*time.Second)
	reg := codec.NewRegistry()
	if err := codec.Register[orderPlaced](reg, "shop.order-placed"); err != nil {
		t.Fatal(err)
	}

	// Nova -> Node: a queue of the Node program's, bound to the exchange.
	toNode := f.name + ".to-node"
	cleanupBroker(t, []string{toNode}, nil)
	if err := f.client.Declare(ctx, amqp.Topology{
		Queues:   []amqp.Queue{{Name: toNode}},
		Bindings: []amqp.Binding{{Queue: toNode, Exchange: f.exchange, Key: "order.#"}},
	}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 678000000, time.UTC)
	sent := map[string]shared.Event{
		"nova-binary": shared.NewBaseEventAt("nova-binary", "order.created", orderPlaced{OrderID: "o-1", Amount: 9.5}, at, awkwardMetadata),
		"nova-structured": shared.NewBaseEventAt("nova-structured", "order.created", orderPlaced{OrderID: "o-2", Amount: 3}, at,
			map[string]string{"customer_id": "c-8", "trace_id": "t-8", "Trace-ID": "T-8", "tenant": "acme"}),
	}
	for id, mode := range map[string]amqp.EventMode{"nova-binary": amqp.Binary, "nova-structured": amqp.Structured} {
		p := f.publisher(t, amqp.PublisherConfig{Events: amqp.EventEncoding{Registry: reg, Mode: mode}})
		if err := p.PublishEvent(ctx, f.exchange, sent[id]); err != nil {
			t.Fatal(err)
		}
	}

	// Node -> Nova: everything it sends lands in the fixture's queue
	// (bound with "#"); order.* events from Nova land there too and are
	// left aside.
	enc := amqp.EventEncoding{Registry: reg}
	var mu sync.Mutex
	got := map[string]shared.Event{}
	all := make(chan struct{})
	k := f.consumer(t, amqp.ConsumerConfig{Events: enc})
	if err := k.Start(ctx, amqp.HandlerFunc(func(_ context.Context, d *amqp.Delivery) (amqp.AckDecision, error) {
		e, err := enc.Decode(d)
		if err != nil {
			t.Errorf("Nova could not decode %s from Node: %v", d.RoutingKey, err)
			return amqp.Reject, err
		}
		mu.Lock()
		defer mu.Unlock()
		if d.RoutingKey != e.Type() { // sent by Node: its routing keys are modes
			got[d.RoutingKey+" "+e.ID()] = e
			if len(got) == 6 {
				close(all)
			}
		}
		return amqp.Ack, nil
	})); err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "interop", "interop.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "NOVA_AMQP_URL="+brokerURL(),
		"NOVA_IN_QUEUE="+toNode, "NOVA_OUT_EXCHANGE="+f.exchange, "NOVA_EXPECT=2")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node interop.js: %v\n%s", err, stderr.String())
	}
	var report struct {
		Read []struct {
			Mode  string         `json:"mode"`
			Event map[string]any `json:"event"`
		} `json:"read"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("node output %q: %v", stdout.String(), err)
	}
	for _, r := range report.Read {
		id, _ := r.Event["id"].(string)
		wantMode := map[string]string{"nova-binary": "binary", "nova-structured": "structured"}[id]
		if r.Mode != wantMode || r.Event["type"] != "order.created" || r.Event["time"] != "2025-01-02T03:04:05.678Z" ||
			r.Event["novadatatype"] != "shop.order-placed" || r.Event["novametadata"] == nil {
			t.Errorf("the SDK read %s in %s mode as %v", id, r.Mode, r.Event)
		}
	}
	if id := "nova-binary"; len(report.Read) == 2 {
		for _, r := range report.Read {
			if r.Event["id"] == id && (r.Event["source"] != "/shop" || r.Event["subject"] != "o-1" || r.Event["tenant"] != "acme") {
				t.Errorf("the SDK read %s as %v", id, r.Event)
			}
		}
	}

	select {
	case <-all:
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("Nova received %d of 6 events from Node: %v", len(got), slicesOfKeys(got))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, mode := range []string{"binary", "structured"} {
		for id, want := range sent {
			e := got["echo."+mode+" "+id]
			if e == nil {
				t.Errorf("%s echo of %s missing", mode, id)
				continue
			}
			if e.Type() != want.Type() || !e.Timestamp().Equal(want.Timestamp()) || e.Data() != want.Data() ||
				!maps.Equal(e.Metadata(), want.Metadata()) {
				t.Errorf("%s echo of %s:\n got %s %v %#v %q\nwant %s %v %#v %q", mode, id,
					e.Type(), e.Timestamp(), e.Data(), e.Metadata(), want.Type(), want.Timestamp(), want.Data(), want.Metadata())
			}
		}
		e := got["fresh."+mode+" node-1"]
		if e == nil {
			t.Errorf("%s event from Node missing", mode)
			continue
		}
		wantMeta := map[string]string{"source": "/node/shop", "subject": "o-9", "dataschema": "https://example.com/schemas/order",
			"tenant": "acme", "customer_id": "c-9", "trace_id": "abc123", "Trace-ID": "Mixed-Case", "": "empty key"}
		if e.Type() != "order.shipped" || !e.Timestamp().Equal(time.Date(2025, 3, 4, 5, 6, 7, 890000000, time.UTC)) ||
			e.Data() != (orderPlaced{OrderID: "o-9", Amount: 12.25}) || !maps.Equal(e.Metadata(), wantMeta) {
			t.Errorf("%s event from Node decoded as %s %v %#v %q", mode, e.Type(), e.Timestamp(), e.Data(), e.Metadata())
		}
	}
}

func slicesOfKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
