package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/observe/dashboard"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/workerpool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// deadLetters returns a manager holding n dead letters of listener "pay".
func deadLetters(t *testing.T, n int) (*listener.Manager, shared.Listener) {
	t.Helper()
	lm := listener.NewManager(listener.ManagerConfig{})
	t.Cleanup(func() { _ = lm.Stop(context.Background()) })
	l := shared.NewBaseListener("pay", func(shared.Event) error { return errors.New("declined") })
	if err := lm.Register(l, listener.ListenerConfig{
		RetryPolicy: listener.RetryPolicy{MaxAttempts: 1},
		DeadLetter:  listener.DeadLetterConfig{Enabled: true},
	}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := shared.NewBaseEvent("order-"+string(rune('a'+i)), "order.created", map[string]int{"n": i})
		if err := lm.Handle(context.Background(), l, e); err == nil {
			t.Fatal("the listener was meant to fail")
		}
	}
	if got := lm.Stats().DeadLettersInStore; got != n {
		t.Fatalf("%d dead letters stored, want %d", got, n)
	}
	return lm, l
}

func token(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	res, err := http.Get(srv.URL + "/nova/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	const mark = `<meta name="nova-token" content="`
	i := strings.Index(string(b), mark)
	if i < 0 {
		t.Fatal("no token meta tag in the page")
	}
	rest := string(b)[i+len(mark):]
	return rest[:strings.IndexByte(rest, '"')]
}

func post(t *testing.T, srv *httptest.Server, path, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/nova/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/nova/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestReadOnlyByDefault(t *testing.T) {
	lm, _ := deadLetters(t, 1)
	h := dashboard.New(dashboard.Options{Listeners: lm})
	defer h.Close()
	srv := serve(t, h)

	if tok := token(t, srv); tok != "" {
		t.Errorf("a read-only page carries an action token %q", tok)
	}
	res, err := http.Get(srv.URL + "/nova/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(page), "all matching</button>") || !strings.Contains(string(page), "read-only") {
		t.Error("the read-only page offers action buttons or does not say it is read-only")
	}
	for _, path := range []string{"api/dead-letters/redrive", "api/dead-letters/discard"} {
		code, body := post(t, srv, path, `{"all":true}`, map[string]string{dashboard.TokenHeader: "guess"})
		if code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", path, code)
		}
		if !strings.Contains(body["error"].(string), "disabled") {
			t.Errorf("%s: error %v", path, body["error"])
		}
	}
	if n := lm.Stats().DeadLettersInStore; n != 1 {
		t.Errorf("%d dead letters left, want the 1 untouched", n)
	}
}

func TestActionsNeedTheTokenFromThePagesOrigin(t *testing.T) {
	lm, l := deadLetters(t, 3)
	var redriven []string
	h := dashboard.New(dashboard.Options{
		Listeners: lm, AllowActions: true,
		Republish: func(ctx context.Context, id string, e shared.Event) error {
			redriven = append(redriven, id+":"+e.ID())
			return nil
		},
	})
	defer h.Close()
	srv := serve(t, h)
	tok := token(t, srv)
	if len(tok) != 64 {
		t.Fatalf("token %q", tok)
	}
	list, err := lm.DeadLetters(context.Background(), listener.DeadLetterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	first := `{"ids":["` + list[0].ID + `"]}`

	refused := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"without the token", map[string]string{}, http.StatusForbidden},
		{"with a wrong token", map[string]string{dashboard.TokenHeader: strings.Repeat("0", 64)}, http.StatusForbidden},
		{"from another origin", map[string]string{dashboard.TokenHeader: tok, "Origin": "https://evil.example"}, http.StatusForbidden},
		{"from another site", map[string]string{dashboard.TokenHeader: tok, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"as a form post", map[string]string{dashboard.TokenHeader: tok, "Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
	}
	for _, c := range refused {
		code, _ := post(t, srv, "api/dead-letters/redrive", first, c.hdr)
		if code != c.want {
			t.Errorf("redrive %s: status %d, want %d", c.name, code, c.want)
		}
	}
	if len(redriven) != 0 {
		t.Fatalf("refused requests redrove %v", redriven)
	}

	ok := map[string]string{dashboard.TokenHeader: tok, "Origin": srv.URL, "Sec-Fetch-Site": "same-origin"}
	code, body := post(t, srv, "api/dead-letters/redrive", first, ok)
	if code != http.StatusOK || body["done"].(float64) != 1 {
		t.Fatalf("redrive: %d %v", code, body)
	}
	if len(redriven) != 1 || redriven[0] != l.ID()+":"+list[0].Event.ID() {
		t.Fatalf("redriven %v", redriven)
	}
	// The same request again finds nothing to do: actions are idempotent.
	code, body = post(t, srv, "api/dead-letters/redrive", first, ok)
	if code != http.StatusOK || body["done"].(float64) != 0 || body["skipped"].(float64) != 1 || len(redriven) != 1 {
		t.Fatalf("repeated redrive: %d %v, redriven %v", code, body, redriven)
	}
	// Discarding all that match a search removes only those.
	code, body = post(t, srv, "api/dead-letters/discard", `{"all":true,"query":{"q":"`+list[1].Event.ID()+`"}}`, ok)
	if code != http.StatusOK || body["done"].(float64) != 1 {
		t.Fatalf("discard matching: %d %v", code, body)
	}
	left, _ := lm.DeadLetters(context.Background(), listener.DeadLetterFilter{})
	if len(left) != 1 || left[0].ID != list[2].ID {
		t.Fatalf("left %+v, want only %s", left, list[2].ID)
	}
	if code, _ := post(t, srv, "api/dead-letters/discard", `{}`, ok); code != http.StatusBadRequest {
		t.Errorf("an action naming nothing: status %d, want 400", code)
	}
}

func TestDeadLettersAreSearchable(t *testing.T) {
	lm, _ := deadLetters(t, 3)
	h := dashboard.New(dashboard.Options{Listeners: lm})
	defer h.Close()
	srv := serve(t, h)
	get := func(q string) map[string]any {
		res, err := http.Get(srv.URL + "/nova/api/dead-letters?q=" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if all := get(""); all["total"].(float64) != 3 {
		t.Fatalf("all: %v", all)
	}
	one := get("order-b")
	items := one["items"].([]any)
	if one["total"].(float64) != 1 || items[0].(map[string]any)["event_id"] != "order-b" {
		t.Fatalf("search: %v", one)
	}
	if d := items[0].(map[string]any)["data"]; d != `{"n":1}` {
		t.Errorf("data %v", d)
	}
	if none := get("nothing-like-this"); none["total"].(float64) != 0 {
		t.Fatalf("search for nothing: %v", none)
	}
}

// readEvent reads one server-sent event.
func readEvent(t *testing.T, r *bufio.Reader) (name, data string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if name != "" || data != "" {
				return name, data
			}
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data += line[len("data: "):]
		}
	}
}

func TestStreamSamplesOnceForAllViewersAndStopsWhenTheyLeave(t *testing.T) {
	pool := workerpool.New(2, 64)
	defer pool.Close(context.Background())
	em := emitter.New(emitter.Config{WorkerPool: pool})
	defer em.Shutdown(context.Background())
	b := bus.New(bus.Config{WorkerPool: pool})
	defer b.Shutdown(context.Background())
	if err := b.CreateTopic("orders", bus.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	h := dashboard.New(dashboard.Options{Emitter: em, Bus: b, Pool: pool, Interval: 5 * time.Millisecond})
	defer h.Close()
	srv := serve(t, h)

	type stream struct {
		r    *bufio.Reader
		stop context.CancelFunc
		body io.Closer
	}
	open := func() stream {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/nova/stream", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		return stream{bufio.NewReader(res.Body), cancel, res.Body}
	}
	a := open()
	if name, data := readEvent(t, a.r); name != "history" || !strings.HasPrefix(data, "[") {
		t.Fatalf("first event %q %q", name, data)
	}
	// Traffic shows in the samples.
	if err := em.Emit(context.Background(), shared.NewBaseEvent("e1", "order.created", nil)); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), "orders", shared.NewBaseEvent("p1", "order.created", nil)); err != nil {
		t.Fatal(err)
	}
	var s dashboard.Sample
	for s.Totals.Emitted < 1 || s.Totals.Published < 1 {
		name, data := readEvent(t, a.r)
		if name != "sample" {
			t.Fatalf("event %q", name)
		}
		if err := json.Unmarshal([]byte(data), &s); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.Topics) != 1 || s.Topics[0].Name != "orders" || len(s.Topics[0].Partitions) != 2 || s.Pool == nil {
		t.Fatalf("sample %+v", s)
	}

	// A second viewer gets the history first, then the same samples: the
	// bytes are encoded once and shared.
	bv := open()
	name, data := readEvent(t, bv.r)
	var hist []dashboard.Sample
	if err := json.Unmarshal([]byte(data), &hist); name != "history" || err != nil || len(hist) == 0 {
		t.Fatalf("history %q: %v (%d samples)", name, err, len(hist))
	}
	_, nb := readEvent(t, bv.r)
	var sb dashboard.Sample
	_ = json.Unmarshal([]byte(nb), &sb)
	for {
		_, na := readEvent(t, a.r)
		var sa dashboard.Sample
		_ = json.Unmarshal([]byte(na), &sa)
		if sa.Time == sb.Time {
			if na != nb {
				t.Fatal("two viewers got different bytes for one sample")
			}
			if sa.Viewers != 2 {
				t.Errorf("viewers %d, want 2", sa.Viewers)
			}
			break
		}
		if sa.Time > sb.Time {
			t.Fatal("the first viewer never saw the second viewer's sample")
		}
	}
	a.stop()
	a.body.Close()
	bv.stop()
	bv.body.Close()
	// The sampler goroutine ends with the last viewer (goleak checks that
	// nothing is left at the end).
	deadline := time.After(5 * time.Second)
	for h.Viewers() != 0 {
		select {
		case <-deadline:
			t.Fatalf("%d viewers still attached", h.Viewers())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestCloseEndsOpenStreams(t *testing.T) {
	h := dashboard.New(dashboard.Options{Interval: time.Hour})
	srv := serve(t, h)
	res, err := http.Get(srv.URL + "/nova/stream")
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(res.Body)
	readEvent(t, r)
	h.Close()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("stream after Close: %v", err)
	}
	res.Body.Close()
	res, err = http.Get(srv.URL + "/nova/stream")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stream opened after Close: status %d", res.StatusCode)
	}
}

func TestAssetsAreEmbedded(t *testing.T) {
	h := dashboard.New(dashboard.Options{})
	defer h.Close()
	srv := serve(t, h)
	for _, p := range []string{"assets/app.js", "assets/app.css", "assets/uplot.min.js", "assets/uplot.min.css"} {
		res, err := http.Get(srv.URL + "/nova/" + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || len(b) < 100 {
			t.Errorf("%s: status %d, %d bytes", p, res.StatusCode, len(b))
		}
	}
	res, err := http.Get(srv.URL + "/nova/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: status %d", res.StatusCode)
	}
}

func TestLatencyIsRecordedOnlyWhileSomeoneWatches(t *testing.T) {
	lat := dashboard.NewLatency(nil)
	lm := listener.NewManager(listener.ManagerConfig{Metrics: lat})
	defer lm.Stop(context.Background())
	if err := lm.Register(shared.NewBaseListener("pay", func(shared.Event) error { return nil }), listener.ListenerConfig{}); err != nil {
		t.Fatal(err)
	}
	// Nobody watches: this is forwarded, not recorded.
	for range 100 {
		lat.EventHandled("listener", "pay", "t", 40*time.Millisecond, nil)
	}
	h := dashboard.New(dashboard.Options{Listeners: lm, Latency: lat, Interval: 5 * time.Millisecond})
	defer h.Close()
	srv := serve(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/nova/stream", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := bufio.NewReader(res.Body)
	readEvent(t, r)
	// Wait until the sampler runs (the stream's first sample), then record.
	readEvent(t, r)
	for range 98 {
		lat.EventHandled("listener", "pay", "t", 3*time.Millisecond, nil)
	}
	lat.EventHandled("listener", "pay", "t", 100*time.Millisecond, nil)
	lat.EventHandled("listener", "pay", "t", 100*time.Millisecond, nil)
	for {
		_, data := readEvent(t, r)
		var s dashboard.Sample
		if err := json.Unmarshal([]byte(data), &s); err != nil {
			t.Fatal(err)
		}
		if len(s.Listeners) != 1 {
			t.Fatalf("listeners %+v", s.Listeners)
		}
		l := s.Listeners[0]
		if l.P50MS == 0 {
			continue
		}
		// 3ms falls in the bucket up to 4.096ms, 100ms in the one up to
		// 131.072ms; the 40ms attempts made before anyone watched are not
		// there.
		if l.P50MS != 4.096 || l.P95MS != 4.096 || l.P99MS != 131.072 {
			t.Fatalf("percentiles %v %v %v", l.P50MS, l.P95MS, l.P99MS)
		}
		return
	}
}
