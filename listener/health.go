package listener

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HealthStatus summarises how a listener, or the whole manager, is doing.
type HealthStatus int

const (
	// Healthy: the last attempt succeeded (or none was made) and the
	// breaker, if any, is closed.
	Healthy HealthStatus = iota
	// Degraded: the last attempt failed, or the breaker is half-open.
	Degraded
	// CircuitBroken: the breaker is open.
	CircuitBroken
)

// String returns "healthy", "degraded" or "circuit-open" (the spellings
// kolosys/nova used).
func (s HealthStatus) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Degraded:
		return "degraded"
	case CircuitBroken:
		return "circuit-open"
	}
	return "HealthStatus(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText encodes the status as its String, for JSON.
func (s HealthStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ListenerHealth is one registered listener's health.
type ListenerHealth struct {
	ID                  string       `json:"id"`
	Name                string       `json:"name"`
	Status              HealthStatus `json:"status"`
	Circuit             CircuitState `json:"circuit"` // CircuitClosed without a breaker
	ConsecutiveFailures int64        `json:"consecutive_failures"`
	InFlight            int64        `json:"in_flight"`
	LastError           string       `json:"last_error,omitempty"`
	LastErrorAt         time.Time    `json:"last_error_at,omitzero"`
}

// Health is the manager's health: the worst of its listeners', and each.
type Health struct {
	Status    HealthStatus     `json:"status"`
	Listeners []ListenerHealth `json:"listeners"`
}

// Health reports each registered listener's health, sorted by ID, and the
// worst of them as the overall status (Healthy with no listener).
func (m *Manager) Health() Health {
	m.init()
	regs := m.regs.Load().list
	h := Health{Listeners: make([]ListenerHealth, 0, len(regs))}
	for _, r := range regs {
		lh := r.health()
		h.Status = max(h.Status, lh.Status)
		h.Listeners = append(h.Listeners, lh)
	}
	slices.SortFunc(h.Listeners, func(a, b ListenerHealth) int { return strings.Compare(a.ID, b.ID) })
	return h
}

func (r *reg) health() ListenerHealth {
	lh := ListenerHealth{
		ID:                  r.id,
		Name:                r.cfg.Name,
		ConsecutiveFailures: r.consecutive.Load(),
		InFlight:            r.inflight(),
	}
	if r.breaker != nil {
		lh.Circuit = r.breaker.State()
	}
	r.mu.Lock()
	if r.lastErr != nil {
		lh.LastError, lh.LastErrorAt = r.lastErr.Error(), r.lastErrAt
	}
	r.mu.Unlock()
	switch {
	case lh.Circuit == CircuitOpen:
		lh.Status = CircuitBroken
	case lh.Circuit == CircuitHalfOpen || lh.ConsecutiveFailures > 0:
		lh.Status = Degraded
	}
	return lh
}

// HealthHandler serves Health as JSON. The status code is 200 when the
// overall status is Healthy or Degraded and 503 when a circuit is open, so
// that a load balancer or probe can act on it. GET and HEAD only.
func (m *Manager) HealthHandler() http.Handler {
	m.init()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := m.Health()
		body, err := json.Marshal(h)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if h.Status == CircuitBroken {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		if req.Method == http.MethodGet {
			_, _ = w.Write(append(body, '\n'))
		}
	})
}
