package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
)

// Payload is the Data of the suite's events.
type Payload struct {
	N    int      `json:"n"`
	Text string   `json:"text"`
	Tags []string `json:"tags"`
}

// PayloadName is the registry name of Payload.
const PayloadName = "storetest.payload"

// EventType is the type of the suite's events.
const EventType = "storetest.happened"

// Register registers Payload in r, for stores that encode events.
func Register(r *codec.Registry) error { return codec.Register[Payload](r, PayloadName) }

// Limits are the limits a store made for the limit tests must enforce.
type Limits struct {
	MaxStreams         int
	MaxEventsPerStream int64
}

// Option adds optional parts to the suite.
type Option func(*suite)

// WithLimits runs the limit tests on stores made by newLimited, which must
// refuse appends past l with a *store.LimitError matching
// store.ErrTooManyStreams or store.ErrStreamFull.
func WithLimits(newLimited func(t *testing.T, l Limits) store.EventStore) Option {
	return func(s *suite) { s.newLimited = newLimited }
}

// WithTimeout bounds each subtest's waits (default 30s), so that a store that
// loses an event fails instead of hanging.
func WithTimeout(d time.Duration) Option {
	return func(s *suite) { s.timeout = d }
}

type suite struct {
	newStore   func(t *testing.T) store.EventStore
	newLimited func(t *testing.T, l Limits) store.EventStore
	timeout    time.Duration
}

// Run runs the conformance suite as subtests of t, each on a fresh store
// from newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.EventStore, opts ...Option) {
	t.Helper()
	s := &suite{newStore: newStore, timeout: 30 * time.Second}
	for _, o := range opts {
		o(s)
	}
	t.Run("Append and read", s.testAppendRead)
	t.Run("Optimistic concurrency", s.testConcurrency)
	t.Run("Subscriptions", s.testSubscriptions)
	t.Run("Retention", s.testRetention)
	t.Run("Stream info and stats", s.testInfo)
	t.Run("Bad input", s.testBadInput)
	t.Run("Close", s.testClose)
	t.Run("Limits", s.testLimits)
}

// open returns a fresh store, closed when the test ends, and a context
// bounded by the suite's timeout.
func (s *suite) open(t *testing.T) (store.EventStore, context.Context) {
	t.Helper()
	st := s.newStore(t)
	if st == nil {
		t.Fatal("newStore returned nil")
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, s.ctx(t)
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	t.Cleanup(cancel)
	return ctx
}

// newEvent returns an event with a Payload and metadata derived from n.
func newEvent(id string, n int) shared.Event {
	return shared.NewBaseEventWithMetadata(id, EventType,
		Payload{N: n, Text: "event " + id, Tags: []string{"a", strconv.Itoa(n)}},
		map[string]string{"n": strconv.Itoa(n), "id": id})
}

// events returns n events with IDs prefix-1 … prefix-n.
func events(prefix string, n int) []shared.Event {
	es := make([]shared.Event, n)
	for i := range es {
		es[i] = newEvent(prefix+"-"+strconv.Itoa(i+1), i+1)
	}
	return es
}

func mustAppend(t *testing.T, ctx context.Context, st store.EventStore, streamID string, es ...shared.Event) {
	t.Helper()
	if err := st.Append(ctx, streamID, es...); err != nil {
		t.Fatalf("Append(%q, %d events): %v", streamID, len(es), err)
	}
}

func mustRead(t *testing.T, ctx context.Context, st store.EventStore, streamID string, from int64, limit int) []store.Record {
	t.Helper()
	recs, err := st.Read(ctx, streamID, from, limit)
	if err != nil {
		t.Fatalf("Read(%q, %d, %d): %v", streamID, from, limit, err)
	}
	return recs
}

func mustReadAll(t *testing.T, ctx context.Context, st store.EventStore, from int64, limit int) []store.Record {
	t.Helper()
	recs, err := st.ReadAll(ctx, from, limit)
	if err != nil {
		t.Fatalf("ReadAll(%d, %d): %v", from, limit, err)
	}
	return recs
}

func mustSubscribe(t *testing.T, ctx context.Context, st store.EventStore, streamID string, from int64) store.Subscription {
	t.Helper()
	sub, err := st.Subscribe(ctx, streamID, from)
	if err != nil {
		t.Fatalf("Subscribe(%q, %d): %v", streamID, from, err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// receive reads n records from sub.
func receive(t *testing.T, ctx context.Context, sub store.Subscription, n int) []store.Record {
	t.Helper()
	recs := make([]store.Record, 0, n)
	for len(recs) < n {
		r, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d of %d records: %v", len(recs), n, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// expectNothingMore checks that sub has nothing to deliver right now.
func expectNothingMore(t *testing.T, sub store.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if r, err := sub.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = record %s, %v; want nothing more (context.DeadlineExceeded)", describe(r), err)
	}
}

func describe(r store.Record) string {
	if r.Event == nil {
		return "{}"
	}
	return fmt.Sprintf("{%s %s v%d p%d}", r.ID(), r.StreamID, r.Version, r.Position)
}

// checkSameEvent compares a record's event with the one appended.
func checkSameEvent(t *testing.T, r store.Record, want shared.Event) {
	t.Helper()
	got := r.Event
	if got == nil {
		t.Fatalf("record %s has no event", describe(r))
	}
	if got.ID() != want.ID() || got.Type() != want.Type() {
		t.Errorf("record %s: got ID %q type %q, want %q %q", describe(r), got.ID(), got.Type(), want.ID(), want.Type())
	}
	if d := got.Timestamp().Sub(want.Timestamp()); d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("record %s: timestamp %v, want %v", describe(r), got.Timestamp(), want.Timestamp())
	}
	if !reflect.DeepEqual(got.Data(), want.Data()) {
		t.Errorf("record %s: data %#v (%T), want %#v (%T); a store that encodes must use a registry with storetest.Register",
			describe(r), got.Data(), got.Data(), want.Data(), want.Data())
	}
	if !reflect.DeepEqual(got.Metadata(), want.Metadata()) {
		t.Errorf("record %s: metadata %v, want %v", describe(r), got.Metadata(), want.Metadata())
	}
}

// ids returns the event IDs of recs.
func ids(recs []store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID()
	}
	return out
}

func versions(recs []store.Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Version
	}
	return out
}

func positions(recs []store.Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Position
	}
	return out
}

// seq returns from, from+1, … to.
func seq(from, to int64) []int64 {
	var out []int64
	for v := from; v <= to; v++ {
		out = append(out, v)
	}
	return out
}

func wantErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want one matching %v", what, err, target)
	}
}

func eventIDs(es []shared.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID()
	}
	return out
}
