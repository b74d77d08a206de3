package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/observe/dashboard"
)

// chromium returns the path of Debian's chromium, or skips the test (fails
// it under NOVA_REQUIRE_SERVICES=1).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("NOVA_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	msg := "no chromium: install Debian's (apt-get install chromium) or set NOVA_CHROMIUM"
	if os.Getenv("NOVA_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless chromium for the test.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	return ctx
}

// waitFor polls a JavaScript expression in the page until it is true.
func waitFor(t *testing.T, ctx context.Context, what, expr string, d time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		dump, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText.slice(0, 3000)`))
		t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, dump)
	}
}

func evalNumber(t *testing.T, ctx context.Context, expr string) float64 {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[float64](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return n
}

var fastLiveTiming = liveTiming{
	Rate: 100, OutageOn: 2 * time.Second, OutageOff: 1500 * time.Millisecond,
	CoolDown: 300 * time.Millisecond, RecoverIn: time.Second, PoisonEach: 20,
	Sample: 250 * time.Millisecond,
}

func TestDashboardInABrowser(t *testing.T) {
	path := chromium(t)
	demo, err := newLiveDemo(fastLiveTiming, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer demo.close()
	readOnly := dashboard.New(dashboard.Options{Emitter: demo.em, Bus: demo.bus, Listeners: demo.lm, Pool: demo.pool, Interval: fastLiveTiming.Sample})
	defer readOnly.Close()
	mux := http.NewServeMux()
	mux.Handle("/nova/", demo.dash)
	mux.Handle("/ro/", readOnly)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer demo.dash.Close() // ends the streams before srv.Close waits for them
	defer readOnly.Close()

	runCtx, stop := context.WithCancel(context.Background())
	traffic := make(chan struct{})
	go func() { defer close(traffic); demo.run(runCtx) }()
	defer func() { stop(); <-traffic }()

	ctx := browser(t, path)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/nova/")); err != nil {
		t.Fatal(err)
	}
	total := `+document.getElementById("t-processed").textContent.replace("total ", "")`
	waitFor(t, ctx, "the stream to connect", `document.getElementById("conn").textContent === "live"`, 20*time.Second)
	waitFor(t, ctx, "processed events", total+` > 0`, 20*time.Second)

	// The counters and the chart advance.
	before := evalNumber(t, ctx, total)
	points := evalNumber(t, ctx, `+document.getElementById("chart-rates").dataset.points`)
	waitFor(t, ctx, "the processed total to grow", total+` > `+ftoa(before), 20*time.Second)
	waitFor(t, ctx, "the chart to gain points", `+document.getElementById("chart-rates").dataset.points > `+ftoa(points)+
		` && !!document.querySelector("#chart-rates canvas")`, 20*time.Second)

	// The shipping breaker opens during an outage and closes after it, and
	// the page names the states.
	shipping := `document.querySelector('#listeners tr[data-listener="shipping"] [data-circuit]')`
	waitFor(t, ctx, "the shipping breaker to open", shipping+`?.dataset.circuit === "open" && `+shipping+`.textContent === "open"`, 30*time.Second)
	waitFor(t, ctx, "the shipping breaker to close", shipping+`?.dataset.circuit === "closed"`, 30*time.Second)
	waitFor(t, ctx, "the breaker changes to be listed", `document.getElementById("changes").innerText.includes("shipping: open")`, 10*time.Second)

	// A declined order is dead-lettered; once its cause is fixed, the
	// Redrive button sends it back, it leaves the list and is handled.
	id := ripeDeadLetter(t, demo.lm, fastLiveTiming.RecoverIn)
	row := `#deadletters tr[data-id="` + id + `"]`
	waitFor(t, ctx, "dead letter "+id+" on the page", `!!document.querySelector('`+row+` button.redrive')`, 20*time.Second)
	handled := demo.redrove.Load()
	// Found and clicked in one step: the table is redrawn with every
	// sample, so a node found first may be gone when a later step clicks it.
	waitFor(t, ctx, "the redrive button to be clicked", `(() => { const b = document.querySelector('`+row+` button.redrive'); if (!b) return false; b.click(); return true; })()`, 20*time.Second)
	waitFor(t, ctx, "the redrive to be reported", `document.getElementById("dl-msg").textContent.startsWith("redrive: 1 done")`, 20*time.Second)
	waitFor(t, ctx, "dead letter "+id+" to leave the list", `!document.querySelector('`+row+`')`, 20*time.Second)
	if demo.redrove.Load() <= handled {
		t.Error("the redriven event was not handled")
	}
	if _, err := demo.lm.InspectDeadLetter(context.Background(), id); !errors.Is(err, listener.ErrDeadLetterNotFound) {
		t.Errorf("dead letter %s after the redrive: %v", id, err)
	}

	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		t.Fatal(err)
	}
	shoot(t, ctx, "dashboard-desktop.png")

	// On a phone-sized screen nothing sticks out sideways: wide tables
	// scroll inside their cards.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the page to fit a phone", `document.documentElement.scrollWidth <= window.innerWidth + 1`, 10*time.Second)
	shoot(t, ctx, "dashboard-phone.png")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}

	// Read-only: no buttons, and the endpoint refuses even with a token.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ro/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "dead letters on the read-only page", `!!document.querySelector("#deadletters tr[data-id]")`, 20*time.Second)
	if n := evalNumber(t, ctx, `document.querySelectorAll("button.action, #dl-redrive-all, #dl-discard-all").length`); n != 0 {
		t.Errorf("the read-only page shows %v action buttons", n)
	}
	refuse := `fetch("api/dead-letters/redrive", {method: "POST", headers: {"Content-Type": "application/json", "X-Nova-Token": "guess"}, body: '{"all": true}'}).then(r => r.status)`
	status, err := chromedp.Run(ctx, chromedp.Evaluate[float64](refuse, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusForbidden {
		t.Errorf("redrive on the read-only page: status %v, want 403", status)
	}
}

// ripeDeadLetter waits until the manager holds a declined order whose cause
// is fixed (placed more than recover ago) and returns its ID.
func ripeDeadLetter(t *testing.T, lm *listener.Manager, recover time.Duration) string {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		dls, err := lm.DeadLetters(context.Background(), listener.DeadLetterFilter{ListenerID: "payments"})
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range dls {
			if strings.Contains(dl.Error, errDeclined.Error()) && time.Since(dl.Event.Timestamp()) > recover {
				return dl.ID
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("no declined order was dead-lettered")
		}
	}
}

// shoot saves a screenshot when NOVA_SCREENSHOTS names a folder.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("NOVA_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
