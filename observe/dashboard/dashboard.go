package dashboard

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/emitter"
	"github.com/novaevents/nova/listener"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
	"github.com/novaevents/nova/transport/amqp"
	"github.com/novaevents/nova/workerpool"
)

// Defaults for Options.
const (
	DefaultInterval = time.Second
	DefaultHistory  = 300 // five minutes at DefaultInterval
	// DefaultViewerBuffer is how many samples a slow viewer may fall behind
	// before it misses one.
	DefaultViewerBuffer = 8
	maxHistory          = 3600
	maxDeadLettersShown = 200
)

// StatsSource is anything with store-style counters: the memory and
// PostgreSQL event stores.
type StatsSource interface {
	Stats() store.Stats
}

// Options selects what the page shows. Every source is optional; the page
// leaves out what is not given.
type Options struct {
	Emitter   *emitter.Emitter
	Bus       *bus.Bus
	Listeners *listener.Manager
	Pool      *workerpool.Pool
	Store     StatsSource
	AMQP      *amqp.Client
	// Publisher adds confirms in flight and confirm latency.
	Publisher *amqp.Publisher
	// Latency adds each listener's latency percentiles: the same Latency
	// given to the listener manager as its Metrics.
	Latency *Latency

	// AllowActions enables redriving and discarding dead letters from the
	// page. Off by default: the page is read-only and the action endpoints
	// answer 403.
	AllowActions bool
	// Republish publishes a redriven dead letter. The default is the
	// Emitter's Emit when an Emitter is given; with neither, dead letters
	// can be discarded but not redriven.
	Republish func(ctx context.Context, listenerID string, e shared.Event) error

	// Interval is how often the server samples the sources (default 1s).
	Interval time.Duration
	// History is how many samples the charts keep (default 300).
	History int
	// Title is shown at the top of the page (default "Nova").
	Title string
	// Logger receives one record per action (default: slog.Default()).
	Logger *slog.Logger
}

//go:embed assets
var assetFS embed.FS

//go:embed index.html
var indexHTML string

var indexTmpl = template.Must(template.New("index").Parse(indexHTML))

// Handler serves the dashboard: the page, its assets, the live stream of
// samples and the dead-letter endpoints. Mount it on any path ending in a
// slash, with or without http.StripPrefix; the page uses relative URLs.
//
// A Handler starts one goroutine, the sampler, when the first viewer opens
// the stream, and stops it when the last one leaves, so nothing is sampled
// while nobody watches. Close ends every stream and the sampler. A Handler
// is safe for concurrent use.
type Handler struct {
	opts   Options
	token  string
	assets http.Handler
	log    *slog.Logger

	hub *hub
}

// New returns a dashboard Handler for the given sources.
func New(opts Options) *Handler {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	opts.History = min(opts.History, maxHistory)
	if opts.Title == "" {
		opts.Title = "Nova"
	}
	if opts.Republish == nil && opts.Emitter != nil {
		em := opts.Emitter
		opts.Republish = func(ctx context.Context, _ string, e shared.Event) error { return em.Emit(ctx, e) }
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	sub, _ := fs.Sub(assetFS, "assets")
	h := &Handler{
		opts:   opts,
		token:  newToken(),
		assets: http.FileServer(http.FS(sub)),
		log:    log,
	}
	h.hub = newHub(opts.Interval, opts.History, newSampler(&opts, opts.Latency))
	return h
}

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Close ends every open stream and stops the sampler. The handler keeps
// serving the page; a stream opened after Close ends at once.
func (h *Handler) Close() { h.hub.close() }

// Viewers reports how many streams are open.
func (h *Handler) Viewers() int { return h.hub.viewerCount() }

// Dropped reports how many samples viewers missed because they fell behind.
func (h *Handler) Dropped() uint64 {
	h.hub.mu.Lock()
	defer h.hub.mu.Unlock()
	return h.hub.dropped
}

// ServeHTTP routes by the last part of the path, so that the handler works
// wherever it is mounted.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if i := strings.LastIndex(p, "/assets/"); i >= 0 {
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = p[i+len("/assets"):]
		r2.URL = &u
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.assets.ServeHTTP(w, r2)
		return
	}
	switch {
	case strings.HasSuffix(p, "/stream"):
		h.serveStream(w, r)
	case strings.HasSuffix(p, "/api/sample"):
		h.serveSample(w, r)
	case strings.HasSuffix(p, "/api/dead-letters"):
		h.serveDeadLetters(w, r)
	case strings.HasSuffix(p, "/api/dead-letters/redrive"):
		h.serveAction(w, r, actionRedrive)
	case strings.HasSuffix(p, "/api/dead-letters/discard"):
		h.serveAction(w, r, actionDiscard)
	case p == "" || strings.HasSuffix(p, "/") || path.Base(p) == "index.html":
		h.servePage(w, r)
	default:
		http.NotFound(w, r)
	}
}

type pageData struct {
	Title      string
	Token      string
	Actions    bool
	Redrive    bool
	IntervalMS int64
	History    int
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	d := pageData{
		Title:      h.opts.Title,
		Actions:    h.opts.AllowActions,
		Redrive:    h.opts.AllowActions && h.opts.Republish != nil,
		IntervalMS: h.opts.Interval.Milliseconds(),
		History:    h.opts.History,
	}
	if h.opts.AllowActions {
		d.Token = h.token
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
	if err := indexTmpl.Execute(w, d); err != nil {
		h.log.Warn("dashboard: rendering the page", "error", err)
	}
}
