package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/observe/logging"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func TestEveryAttemptOnTheBusIsLoggedWithItsNumber(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := bus.New(bus.Config{})
	dead := make(chan struct{})
	if err := b.CreateTopic("payments", bus.TopicConfig{
		RetryPolicy: listener.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond},
		DeadLetter: listener.DeadLetterConfig{Enabled: true, Handler: func(e shared.Event, err error) {
			logging.DeadLetter(logger)(e, err)
			close(dead)
		}},
	}); err != nil {
		t.Fatal(err)
	}
	tries := 0
	logged := logging.Listener(logger, logging.Options{Metadata: true})
	b.Subscribe("payments", logged(shared.NewBaseListener("charge", func(e shared.Event) error {
		if e.ID() == "bad" {
			return errors.New("card declined")
		}
		if tries++; tries == 1 {
			panic("flaky")
		}
		return nil
	})))
	ctx := context.Background()
	_ = b.Publish(ctx, "payments", shared.NewBaseEventWithMetadata("ok", "payment.requested", nil, map[string]string{"tenant": "t1"}))
	_ = b.Publish(ctx, "payments", shared.NewBaseEvent("bad", "payment.requested", nil))
	<-dead
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// The two events' records may interleave; each event's are in order.
	all := records(t, &buf)
	var rs []map[string]any
	for _, id := range []string{"ok", "bad"} {
		for _, r := range all {
			if r[logging.KeyEventID] == id && r["msg"] != logging.MsgDeadLetter {
				rs = append(rs, r)
			}
		}
	}
	for _, r := range all {
		if r["msg"] == logging.MsgDeadLetter {
			rs = append(rs, r)
		}
	}
	type want struct {
		level, msg, id string
		attempt        float64
		err            string
	}
	wants := []want{
		{"ERROR", logging.MsgFailed, "ok", 1, "flaky"},
		{"INFO", logging.MsgHandled, "ok", 2, ""},
		{"ERROR", logging.MsgFailed, "bad", 1, "card declined"},
		{"ERROR", logging.MsgFailed, "bad", 2, "card declined"},
		{"ERROR", logging.MsgFailed, "bad", 3, "card declined"},
	}
	if len(all) != len(wants)+1 || len(rs) != len(all) {
		t.Fatalf("%d records, want %d:\n%s", len(rs), len(wants)+1, buf.String())
	}
	for i, w := range wants {
		r := rs[i]
		if r["level"] != w.level || r["msg"] != w.msg || r[logging.KeyEventID] != w.id || r[logging.KeyAttempt] != w.attempt {
			t.Errorf("record %d = %v, want %+v", i, r, w)
		}
		if r[logging.KeyEventType] != "payment.requested" || r[logging.KeyListener] != "charge" {
			t.Errorf("record %d type/listener = %v/%v", i, r[logging.KeyEventType], r[logging.KeyListener])
		}
		if _, ok := r[logging.KeyDuration].(float64); !ok {
			t.Errorf("record %d has no numeric duration: %v", i, r[logging.KeyDuration])
		}
		errText, _ := r[logging.KeyError].(string)
		if (w.err == "") != (errText == "") || !strings.Contains(errText, w.err) {
			t.Errorf("record %d error = %q, want %q", i, errText, w.err)
		}
	}
	if stack, _ := rs[0][logging.KeyStack].(string); !strings.Contains(stack, "goroutine") {
		t.Errorf("the panic's record has no stack: %q", stack)
	}
	if md, _ := rs[1]["metadata"].(map[string]any); md["tenant"] != "t1" {
		t.Errorf("metadata group = %v", rs[1]["metadata"])
	}
	last := rs[len(rs)-1]
	if last["msg"] != logging.MsgDeadLetter || last[logging.KeyEventID] != "bad" || !strings.Contains(last[logging.KeyError].(string), "card declined") {
		t.Errorf("dead-letter record = %v", last)
	}
}

func TestDisabledLevelsWriteNothing(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l := logging.Listener(logger, logging.Options{SuccessLevel: slog.LevelDebug})(shared.NewBaseListener("l", func(shared.Event) error { return nil }))
	if err := l.Handle(context.Background(), shared.NewBaseEvent("1", "a.b", nil)); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("a disabled level wrote %q", buf.String())
	}
	if logging.Listener(nil, logging.Options{})(l) != l {
		t.Error("a nil logger wrapped the listener")
	}
}

func TestPoolPanicsAreLoggedWithTheirStack(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	pool := workerpool.New(1, 4, workerpool.WithPanicHandler(logging.PanicHandler(logger)))
	_ = pool.Submit(context.Background(), func() { panic("task broke") })
	if err := pool.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rs := records(t, &buf)
	if len(rs) != 1 || rs[0]["msg"] != logging.MsgTaskPanic || rs[0][logging.KeyPanic] != "task broke" || !strings.Contains(rs[0][logging.KeyStack].(string), "goroutine") {
		t.Errorf("records = %v", rs)
	}
}
