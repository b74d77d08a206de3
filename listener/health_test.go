package listener_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/novaevents/nova/listener"
)

func TestHealthFollowsTheListeners(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := &scripted{id: "a"}, &scripted{id: "b"}
		m := newManager(t, a, listener.ListenerConfig{Name: "mailer"})
		_ = m.Register(b, listener.ListenerConfig{Circuit: listener.CircuitConfig{Enabled: true, FailureThreshold: 2, CoolDown: time.Second}})

		if h := m.Health(); h.Status != listener.Healthy || len(h.Listeners) != 2 || h.Listeners[0].Name != "mailer" {
			t.Fatalf("fresh health = %+v, want healthy with 2 listeners", h)
		}
		a.push(errBoom)
		attemptN(m, a, 1)
		h := m.Health()
		if h.Status != listener.Degraded || h.Listeners[0].Status != listener.Degraded || h.Listeners[0].LastError != "boom" || h.Listeners[0].LastErrorAt.IsZero() {
			t.Fatalf("after a failure: %+v, want a degraded with its last error", h)
		}
		b.push(errBoom, errBoom)
		attemptN(m, b, 2)
		if h := m.Health(); h.Status != listener.CircuitBroken || h.Listeners[1].Status != listener.CircuitBroken || h.Listeners[1].Circuit != listener.CircuitOpen {
			t.Fatalf("with b's circuit open: %+v", h)
		}
		time.Sleep(time.Second)
		if h := m.Health(); h.Listeners[1].Status != listener.Degraded || h.Listeners[1].Circuit != listener.CircuitHalfOpen {
			t.Fatalf("after the cool-down b is %+v, want degraded and half-open", h.Listeners[1])
		}
		attemptN(m, a, 1)
		attemptN(m, b, 1)
		if h := m.Health(); h.Status != listener.Healthy {
			t.Errorf("after successes: %+v, want healthy", h)
		}
	})
}

func TestHealthHandlerServesJSON(t *testing.T) {
	a := &scripted{id: "a"}
	m := newManager(t, a, listener.ListenerConfig{Circuit: listener.CircuitConfig{Enabled: true, FailureThreshold: 1}})
	srv := httptest.NewServer(m.HealthHandler())
	defer srv.Close()

	get := func() (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	code, body := get()
	if code != http.StatusOK || body["status"] != "healthy" {
		t.Errorf("healthy: %d %v", code, body)
	}
	a.push(errBoom)
	attemptN(m, a, 1)
	code, body = get()
	ls := body["listeners"].([]any)[0].(map[string]any)
	if code != http.StatusServiceUnavailable || body["status"] != "circuit-open" || ls["circuit"] != "open" || ls["last_error"] != "boom" {
		t.Errorf("circuit open: %d %v", code, body)
	}
	resp, err := http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", resp.StatusCode)
	}
}
