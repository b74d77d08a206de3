package dashboard

import (
	"encoding/json"
	"sync"
	"time"
)

// viewer is one open stream. Its channel holds encoded samples; when it is
// full the viewer misses a sample, which is counted.
type viewer struct {
	ch chan []byte
}

// hub owns the sampler goroutine and the viewers. The goroutine runs while
// at least one viewer is attached: the first attach starts it, the last
// detach stops it and waits for it to end.
type hub struct {
	interval time.Duration
	keep     int
	s        *sampler

	mu      sync.Mutex
	viewers map[*viewer]struct{}
	history [][]byte // encoded samples, oldest first, at most keep
	last    []byte   // the newest encoded sample
	dropped uint64
	closed  bool
	stop    chan struct{} // closed to stop the running sampler
	done    chan struct{} // closed when it has stopped
}

func newHub(interval time.Duration, keep int, s *sampler) *hub {
	return &hub{interval: interval, keep: keep, s: s, viewers: map[*viewer]struct{}{}}
}

// attach adds a viewer and returns it with the history to send first. It
// returns nil after close.
func (h *hub) attach() (*viewer, [][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil
	}
	v := &viewer{ch: make(chan []byte, DefaultViewerBuffer)}
	h.viewers[v] = struct{}{}
	h.watch(1)
	if h.stop == nil {
		h.stop, h.done = make(chan struct{}), make(chan struct{})
		go h.run(h.stop, h.done)
	}
	return v, append([][]byte(nil), h.history...)
}

// detach removes a viewer; the last one out stops the sampler and waits
// for it.
func (h *hub) detach(v *viewer) {
	h.mu.Lock()
	if _, ok := h.viewers[v]; !ok {
		h.mu.Unlock()
		return
	}
	delete(h.viewers, v)
	h.watch(-1)
	if len(h.viewers) > 0 {
		h.mu.Unlock()
		return
	}
	h.stopSampler()
}

// stopSampler stops the sampler, if it runs, and waits for it. It is
// called with h.mu held and returns with it released.
func (h *hub) stopSampler() {
	done := h.done
	if h.stop != nil {
		close(h.stop)
		h.stop, h.done = nil, nil
	}
	h.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (h *hub) viewerCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.viewers)
}

// close ends every stream (their channels are closed) and the sampler.
func (h *hub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for v := range h.viewers {
		close(v.ch)
		delete(h.viewers, v)
		h.watch(-1)
	}
	h.stopSampler()
}

// current returns the newest sample, taking one now if the sampler is not
// running (for the JSON endpoint).
func (h *hub) current() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stop != nil && h.last != nil {
		return h.last
	}
	// The sampler is not running, so its state is ours under mu.
	s := h.s.sample(time.Now())
	s.Viewers = len(h.viewers)
	b, _ := json.Marshal(s)
	return b
}

func (h *hub) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(h.interval)
	defer t.Stop()
	// The first sample after a pause only primes the sampler: rates need
	// two samples, and a sample of zeros would draw a false dip.
	h.mu.Lock()
	h.s.sample(time.Now())
	h.mu.Unlock()
	for {
		select {
		case <-stop:
			h.mu.Lock()
			h.s.reset()
			h.mu.Unlock()
			return
		case now := <-t.C:
			h.tick(now)
		}
	}
}

// tick takes a sample, encodes it once, keeps it in the history and hands
// it to every viewer that has room.
func (h *hub) tick(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.s.sample(now)
	s.Viewers = len(h.viewers)
	s.SamplesDropped = h.dropped
	b, err := json.Marshal(s)
	if err != nil {
		return
	}
	h.last = b
	if len(h.history) == h.keep {
		copy(h.history, h.history[1:])
		h.history = h.history[:h.keep-1]
	}
	h.history = append(h.history, b)
	for v := range h.viewers {
		select {
		case v.ch <- b:
		default:
			h.dropped++
		}
	}
}

// watch tells the latency recorder, if any, that a viewer came or went.
func (h *hub) watch(d int32) {
	if l := h.s.rec; l != nil {
		l.watching.Add(d)
	}
}
