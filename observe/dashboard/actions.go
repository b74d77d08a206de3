package dashboard

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
)

// TokenHeader carries the page's action token. A request from another
// origin cannot read the page, so it cannot know the token; and a custom
// header with a JSON body cannot be sent cross-origin without a CORS
// preflight, which the handler never grants.
const TokenHeader = "X-Nova-Token"

const maxActionBody = 64 << 10

// DeadLetterView is a dead letter as the page lists it.
type DeadLetterView struct {
	ID        string            `json:"id"`
	Listener  string            `json:"listener"`
	EventID   string            `json:"event_id"`
	EventType string            `json:"event_type"`
	Error     string            `json:"error"`
	Attempts  int               `json:"attempts"`
	At        time.Time         `json:"at"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Data      string            `json:"data,omitempty"`
}

type deadLetterList struct {
	Total   int              `json:"total"`   // matching the query
	Shown   int              `json:"shown"`   // in Items (at most 200)
	Items   []DeadLetterView `json:"items"`   // oldest first
	Actions bool             `json:"actions"` // whether actions are allowed
	Redrive bool             `json:"redrive"` // whether redrive is possible
}

// query selects dead letters: the manager's filter plus a text search over
// the IDs, type, listener and error.
type query struct {
	Listener  string `json:"listener"`
	EventType string `json:"type"`
	Text      string `json:"q"`
}

func (q query) match(dl listener.DeadLetter) bool {
	if q.Text == "" {
		return true
	}
	t := strings.ToLower(q.Text)
	for _, s := range [...]string{dl.ID, dl.ListenerID, dl.Error, eventID(dl.Event), eventType(dl.Event)} {
		if strings.Contains(strings.ToLower(s), t) {
			return true
		}
	}
	return false
}

func eventID(e shared.Event) string {
	if e == nil {
		return ""
	}
	return e.ID()
}

func eventType(e shared.Event) string {
	if e == nil {
		return ""
	}
	return e.Type()
}

func (h *Handler) find(ctx context.Context, q query) ([]listener.DeadLetter, error) {
	all, err := h.opts.Listeners.DeadLetters(ctx, listener.DeadLetterFilter{ListenerID: q.Listener, EventType: q.EventType})
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, dl := range all {
		if q.match(dl) {
			out = append(out, dl)
		}
	}
	return out, nil
}

func (h *Handler) serveDeadLetters(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	res := deadLetterList{Items: []DeadLetterView{}, Actions: h.opts.AllowActions, Redrive: h.opts.AllowActions && h.opts.Republish != nil}
	if h.opts.Listeners != nil {
		v := r.URL.Query()
		found, err := h.find(r.Context(), query{Listener: v.Get("listener"), EventType: v.Get("type"), Text: v.Get("q")})
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		res.Total = len(found)
		if len(found) > maxDeadLettersShown {
			found = found[len(found)-maxDeadLettersShown:]
		}
		for _, dl := range found {
			res.Items = append(res.Items, view(dl))
		}
		res.Shown = len(res.Items)
	}
	writeJSON(w, http.StatusOK, res)
}

func view(dl listener.DeadLetter) DeadLetterView {
	v := DeadLetterView{ID: dl.ID, Listener: dl.ListenerID, Error: dl.Error, Attempts: dl.Attempts, At: dl.At}
	if e := dl.Event; e != nil {
		v.EventID, v.EventType = e.ID(), e.Type()
		v.Metadata = e.Metadata()
		if d := e.Data(); d != nil {
			b, err := json.Marshal(d)
			if err != nil {
				b = []byte(fmt.Sprintf("%v", d))
			}
			if len(b) > 2048 {
				b = append(b[:2048:2048], "…"...)
			}
			v.Data = string(b)
		}
	}
	return v
}

type action int

const (
	actionRedrive action = iota
	actionDiscard
)

func (a action) String() string {
	if a == actionRedrive {
		return "redrive"
	}
	return "discard"
}

// actionRequest names dead letters by ID, or all that match a query.
type actionRequest struct {
	IDs   []string `json:"ids"`
	All   bool     `json:"all"`
	Query query    `json:"query"`
}

type actionResult struct {
	Done    int      `json:"done"`    // redriven or discarded now
	Skipped int      `json:"skipped"` // already gone: an earlier request handled them
	Errors  []string `json:"errors,omitempty"`
}

// ErrActionsDisabled is the answer to an action while Options.AllowActions
// is off.
var ErrActionsDisabled = errors.New("dashboard: actions are disabled")

// authorize checks that an action may run: actions on, a POST from the
// page's own origin with its token and a JSON body.
func (h *Handler) authorize(r *http.Request) (int, error) {
	if !h.opts.AllowActions {
		return http.StatusForbidden, ErrActionsDisabled
	}
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, errors.New("dashboard: actions take POST")
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return http.StatusForbidden, errors.New("dashboard: cross-site request refused")
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return http.StatusForbidden, errors.New("dashboard: request from another origin refused")
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return http.StatusUnsupportedMediaType, errors.New("dashboard: actions take a JSON body")
	}
	tok := r.Header.Get(TokenHeader)
	if subtle.ConstantTimeCompare([]byte(tok), []byte(h.token)) != 1 {
		return http.StatusForbidden, errors.New("dashboard: missing or wrong action token")
	}
	if h.opts.Listeners == nil {
		return http.StatusNotFound, errors.New("dashboard: no listener manager to act on")
	}
	return 0, nil
}

func (h *Handler) serveAction(w http.ResponseWriter, r *http.Request, a action) {
	if code, err := h.authorize(r); err != nil {
		writeJSON(w, code, map[string]string{"error": err.Error()})
		return
	}
	if a == actionRedrive && h.opts.Republish == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "dashboard: no Republish or Emitter to redrive with"})
		return
	}
	var req actionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxActionBody)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "dashboard: bad request body: " + err.Error()})
		return
	}
	if !req.All && len(req.IDs) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "dashboard: name ids, or all with a query"})
		return
	}
	ctx := r.Context()
	ids := req.IDs
	if req.All {
		found, err := h.find(ctx, req.Query)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		ids = ids[:0]
		for _, dl := range found {
			ids = append(ids, dl.ID)
		}
	}
	var res actionResult
	for _, id := range ids {
		err := h.act(ctx, a, id)
		switch {
		case err == nil:
			res.Done++
		case errors.Is(err, listener.ErrDeadLetterNotFound):
			res.Skipped++
		default:
			res.Errors = append(res.Errors, id+": "+err.Error())
		}
	}
	h.log.Info("dashboard: dead letters "+a.String(),
		"action", a.String(), "done", res.Done, "skipped", res.Skipped, "failed", len(res.Errors),
		"all", req.All, "ids", len(req.IDs), "remote", r.RemoteAddr)
	code := http.StatusOK
	if len(res.Errors) > 0 {
		code = http.StatusBadGateway
	}
	writeJSON(w, code, res)
}

func (h *Handler) act(ctx context.Context, a action, id string) error {
	m := h.opts.Listeners
	if a == actionDiscard {
		return m.RemoveDeadLetter(ctx, id)
	}
	dl, err := m.InspectDeadLetter(ctx, id)
	if err != nil {
		return err
	}
	lid := dl.ListenerID
	return m.Redrive(ctx, id, func(ctx context.Context, e shared.Event) error {
		return h.opts.Republish(ctx, lid, e)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
