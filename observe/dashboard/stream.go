package dashboard

import (
	"net/http"
)

// serveStream sends server-sent events: first one "history" event holding
// the samples the charts keep (a JSON array), then a "sample" event per
// interval until the client goes away or the handler is closed.
func (h *Handler) serveStream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rc := http.NewResponseController(w)
	v, history := h.hub.attach()
	if v == nil {
		http.Error(w, "dashboard: closed", http.StatusServiceUnavailable)
		return
	}
	defer h.hub.detach(v)

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	buf := make([]byte, 0, 4096)
	buf = append(buf, "retry: 2000\nevent: history\ndata: ["...)
	for i, b := range history {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, b...)
	}
	buf = append(buf, "]\n\n"...)
	if _, err := w.Write(buf); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case b, ok := <-v.ch:
			if !ok {
				return
			}
			buf = append(buf[:0], "event: sample\ndata: "...)
			buf = append(buf, b...)
			buf = append(buf, "\n\n"...)
			if _, err := w.Write(buf); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// serveSample answers the newest sample as JSON.
func (h *Handler) serveSample(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(h.hub.current())
}
