package listener_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errBoom = errors.New("boom")

func event(id string) *shared.BaseEvent { return shared.NewBaseEvent(id, "test.event", id) }

// scripted is a listener whose results are set by the test: it returns the
// next error of results (nil when they run out) and counts its calls.
type scripted struct {
	id      string
	mu      sync.Mutex
	results []error
	calls   int
}

func (s *scripted) ID() string { return s.id }

func (s *scripted) Handle(context.Context, shared.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if len(s.results) == 0 {
		return nil
	}
	err := s.results[0]
	s.results = s.results[1:]
	return err
}

func (s *scripted) push(errs ...error) {
	s.mu.Lock()
	s.results = append(s.results, errs...)
	s.mu.Unlock()
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

// newManager returns a manager registered with l under cfg, stopped when
// the test ends.
func newManager(t *testing.T, l shared.Listener, cfg listener.ListenerConfig) *listener.Manager {
	t.Helper()
	m := listener.NewManager(listener.ManagerConfig{})
	t.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	if l != nil {
		if err := m.Register(l, cfg); err != nil {
			t.Fatalf("Register: %v", err)
		}
	}
	return m
}

// attemptN makes n attempts and returns their errors.
func attemptN(m *listener.Manager, l shared.Listener, n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = attempt(m, context.Background(), l, event("e"))
	}
	return errs
}

func circuitOf(t *testing.T, m *listener.Manager, id string) listener.CircuitState {
	t.Helper()
	for _, ls := range m.Stats().Listeners {
		if ls.ID == id {
			return ls.Circuit
		}
	}
	t.Fatalf("listener %q not in stats", id)
	return 0
}

// attempt makes one attempt of l on e through a route with the zero
// RouteConfig, as a dispatcher does, and returns the attempt's error.
func attempt(m *listener.Manager, ctx context.Context, l shared.Listener, e shared.Event) error {
	rt, err := m.Route(l, listener.RouteConfig{})
	if err != nil {
		return err
	}
	return rt.Attempt(ctx, e, 1).Err
}

// giveUp gives e up for l through a route whose own policy keeps dead
// letters.
func giveUp(m *listener.Manager, l shared.Listener, e shared.Event, err error) {
	rt, rerr := m.Route(l, listener.RouteConfig{Policy: listener.Policy{DeadLetter: listener.DeadLetterConfig{Enabled: true}}})
	if rerr != nil {
		return
	}
	rt.DeadLetter(e, err)
}

// next returns the verdict's delay and retry on attempt n of l failing with
// err.
func next(m *listener.Manager, l shared.Listener, n int, err error) (time.Duration, bool) {
	rt, rerr := m.Route(l, listener.RouteConfig{})
	if rerr != nil {
		return 0, false
	}
	v := rt.Decide(event("x"), n, err)
	return v.Delay(), v.Retry()
}
