package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/novaevents/nova/internal/brokerlock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestDemoRunsTheWholeFlowAndSaysWhatHappened(t *testing.T) {
	out, errOut, code := runCmd(t, "demo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"events emitted    45",
		"Event store (memory)", "9 events, versions 1..9",
		"cards declined: 3",
		"order violations       0",
		"duplicates suppressed  24",
		"shipping: closed → open",
		"shipping: half-open → closed",
		"billing  o-011  invalid billing address",
		"dropped                0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestSizeUsesTheSizingFormulas(t *testing.T) {
	out, _, code := runCmd(t, "size", "-workload", "io", "-rate", "50000", "-burst", "100ms", "-processing", "10ms", "-partitions", "16")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"queue          5000", "50000 events/s × 100ms burst", "per partition  313"} {
		if !strings.Contains(out, want) {
			t.Errorf("size output lacks %q:\n%s", want, out)
		}
	}
	if _, errOut, code := runCmd(t, "size", "-workload", "quantum"); code == 0 || errOut == "" {
		t.Error("an unknown workload was accepted")
	}
}

func TestBenchPrintsATable(t *testing.T) {
	out, errOut, code := runCmd(t, "bench", "-run", "emitter (sync)", "-benchtime", "20ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "ns/op") || !strings.Contains(out, "Emitter (sync)") || !strings.Contains(errOut, "[1/") {
		t.Errorf("table:\n%s\nprogress:\n%s", out, errOut)
	}
}

func TestUnknownCommandsAndBadFlagsFail(t *testing.T) {
	if _, _, code := runCmd(t); code != 2 {
		t.Errorf("no command: exit %d", code)
	}
	if _, _, code := runCmd(t, "fly"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
	if _, _, code := runCmd(t, "demo", "-orders", "0"); code != 1 {
		t.Errorf("bad flag: exit %d", code)
	}
}

// serviceURL returns the URL of a service from env (or its loopback
// default), skipping the test when the service is not reachable unless
// NOVA_REQUIRE_SERVICES=1.
func serviceURL(t *testing.T, env, def, hostport, start string) string {
	t.Helper()
	url := os.Getenv(env)
	if url == "" {
		url = def
	}
	c, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err != nil {
		if os.Getenv("NOVA_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is required but not reachable at %s: %v", env, hostport, err)
		}
		t.Skipf("service not reachable at %s (%v); start it with: %s", hostport, err, start)
	}
	c.Close()
	return url
}

func TestDemoWithPostgresAndRabbitMQ(t *testing.T) {
	pg := serviceURL(t, "NOVA_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test", "127.0.0.1:5432",
		"pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
	brokerlock.Shared(t) // not while the transport's fault test stops the broker
	mq := serviceURL(t, "NOVA_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/", "127.0.0.1:5672", "rabbitmq-server -detached")
	out, errOut, code := runCmd(t, "demo", "-postgres", pg, "-amqp", mq)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Event store (postgres)", "9 events, versions 1..9",
		"published and confirmed  24", "consumed back            24 (24 with their Go type restored)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
