package shared_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/novaevents/nova/shared"
)

func TestValidateRefusesBadEvents(t *testing.T) {
	var typedNil *shared.BaseEvent
	tests := []struct {
		name  string
		event shared.Event
		field string
	}{
		{"nil interface", nil, "event"},
		{"typed nil pointer", typedNil, "event"},
		{"zero BaseEvent", &shared.BaseEvent{}, "id"},
		{"empty type", shared.NewBaseEvent("id-1", "", nil), "type"},
		{"a type with '*'", shared.NewBaseEvent("id-1", "order.*", nil), "type"},
		{"a type with '>'", shared.NewBaseEvent("id-1", "order.>", nil), "type"},
		{"a wildcard inside a token", shared.NewBaseEvent("id-1", "order.cre*ted", nil), "type"},
		{"a leading dot", shared.NewBaseEvent("id-1", ".order", nil), "type"},
		{"a trailing dot", shared.NewBaseEvent("id-1", "order.", nil), "type"},
		{"two dots in a row", shared.NewBaseEvent("id-1", "order..created", nil), "type"},
		{"only a dot", shared.NewBaseEvent("id-1", ".", nil), "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := shared.Validate(tt.event)
			var ve *shared.ValidationError
			if !errors.Is(err, shared.ErrInvalidEvent) || !errors.As(err, &ve) || ve.Field != tt.field {
				t.Errorf("Validate = %v, want a ValidationError on %q", err, tt.field)
			}
		})
	}
	for _, typ := range []string{"order.created", "order", "order.item.added", "user-profile.updated_v2"} {
		if err := shared.Validate(shared.NewBaseEvent("id-1", typ, nil)); err != nil {
			t.Errorf("valid event of type %q: %v", typ, err)
		}
	}
}

func TestValidateDoesNotAllocateForAValidEvent(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	e := shared.NewBaseEvent("id-1", "order.item.added", nil)
	if n := testing.AllocsPerRun(100, func() { _ = shared.Validate(e) }); n != 0 {
		t.Errorf("Validate allocates %v times per call, want 0", n)
	}
}

// Seed 001's tracing middleware calls SetMetadata in a Before hook, so the
// same event can get metadata on several goroutines while others read it.
func TestMetadataIsSafeToSetWhileOthersReadIt(t *testing.T) {
	e := shared.NewBaseEventWithMetadata("id-1", "order.created", nil, map[string]string{"source": "test"})
	const writers, readers, rounds = 4, 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				e.SetMetadata(fmt.Sprint("w", w), fmt.Sprint(i))
				e.SetMetadata("trace_id", "same-for-everyone")
			}
		}()
	}
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				n := 0
				for range e.Metadata() { // ranging over a map being written crashes
					n++
				}
				if v, ok := e.GetMetadata("source"); !ok || v != "test" || n == 0 {
					t.Errorf("metadata lost its first key: %q, %v (%d keys)", v, ok, n)
					return
				}
			}
		}()
	}
	wg.Wait()
	md := e.Metadata()
	if len(md) != writers+2 {
		t.Errorf("metadata %v: want source, trace_id and one key per writer (no update lost)", md)
	}
	for w := range writers {
		if v := md[fmt.Sprint("w", w)]; v != fmt.Sprint(rounds-1) {
			t.Errorf("writer %d's last value is %q, want %d", w, v, rounds-1)
		}
	}
}

func TestMetadataReturnedEarlierDoesNotChange(t *testing.T) {
	e := shared.NewBaseEvent("id-1", "order.created", nil)
	e.SetMetadata("a", "1")
	before := e.Metadata()
	e.SetMetadata("b", "2")
	e.SetMetadata("a", "changed")
	if len(before) != 1 || before["a"] != "1" {
		t.Errorf("a map returned earlier changed: %v", before)
	}
	if got := e.Metadata(); len(got) != 2 || got["a"] != "changed" || got["b"] != "2" {
		t.Errorf("Metadata = %v", got)
	}
}

func TestReadingMetadataDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	e := shared.NewBaseEventWithMetadata("id-1", "order.created", nil, map[string]string{"trace_id": "t-1"})
	n := testing.AllocsPerRun(100, func() {
		_ = e.Metadata()
		_, _ = e.GetMetadata("trace_id")
		e.SetMetadata("trace_id", "t-1") // the value it already has
	})
	if n != 0 {
		t.Errorf("%v allocations per run, want 0", n)
	}
}

func TestBaseEventIsSafeToUseAtZeroAndNil(t *testing.T) {
	var nilEvent *shared.BaseEvent
	if nilEvent.ID() != "" || nilEvent.Type() != "" || nilEvent.Data() != nil || nilEvent.Metadata() != nil || !nilEvent.Timestamp().IsZero() {
		t.Error("nil BaseEvent getters returned values")
	}
	var e shared.BaseEvent
	e.SetMetadata("k", "v") // creates the map
	if v, ok := e.GetMetadata("k"); !ok || v != "v" {
		t.Errorf("GetMetadata = %q, %v", v, ok)
	}
	e.Reset("id", "t.x", 7)
	if e.ID() != "id" || e.Type() != "t.x" || e.Data() != 7 || len(e.Metadata()) != 0 || e.Timestamp().IsZero() {
		t.Errorf("after Reset: %+v", &e)
	}
}

func TestNewBaseEventWithMetadataCopiesTheMap(t *testing.T) {
	md := map[string]string{"customer_id": "c-1"}
	e := shared.NewBaseEventWithMetadata("id", "order.created", nil, md)
	md["customer_id"] = "changed"
	if e.Metadata()["customer_id"] != "c-1" {
		t.Error("event metadata changed with the caller's map")
	}
	at := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if r := shared.NewBaseEventAt("id", "t", nil, at, nil); !r.Timestamp().Equal(at) {
		t.Errorf("NewBaseEventAt timestamp = %v", r.Timestamp())
	}
}

func TestSubscriptionUnsubscribesOnce(t *testing.T) {
	calls := 0
	s := shared.NewSubscription(shared.NextSubscriptionID(), "t", shared.NewBaseListener("l", nil), func() error {
		calls++
		return errors.New("first")
	})
	if !s.Active() {
		t.Fatal("new subscription not active")
	}
	err1, err2 := s.Unsubscribe(), s.Unsubscribe()
	if calls != 1 || s.Active() || err1 == nil || err1 != err2 {
		t.Errorf("calls=%d active=%v errs=%v,%v", calls, s.Active(), err1, err2)
	}
	if a, b := shared.NextSubscriptionID(), shared.NextSubscriptionID(); a == b {
		t.Errorf("subscription IDs repeat: %s", a)
	}
}

func TestChainOrdersMiddlewareOutermostFirst(t *testing.T) {
	var trace []string
	mw := func(name string) shared.ListenerMiddleware {
		return func(next shared.Listener) shared.Listener {
			return shared.Wrap(next, func(ctx context.Context, e shared.Event) error {
				trace = append(trace, name)
				return next.Handle(ctx, e)
			})
		}
	}
	l := shared.Chain(shared.NewBaseListener("core", func(shared.Event) error { trace = append(trace, "core"); return nil }),
		mw("outer"), nil, mw("inner"))
	if l.ID() != "core" {
		t.Errorf("wrapped ID = %q", l.ID())
	}
	_ = l.Handle(context.Background(), shared.NewBaseEvent("e", "t", nil))
	if want := []string{"outer", "inner", "core"}; !slices.Equal(trace, want) {
		t.Errorf("trace = %v, want %v", trace, want)
	}
}

func TestRecoverTurnsPanicsIntoErrors(t *testing.T) {
	l := shared.Chain(shared.NewBaseListener("p", func(shared.Event) error { panic(fmt.Errorf("wrapped: %w", context.Canceled)) }), shared.Recover())
	err := l.Handle(context.Background(), shared.NewBaseEvent("e", "t", nil))
	var pe *shared.PanicError
	if !errors.Is(err, shared.ErrListenerPanic) || !errors.As(err, &pe) || len(pe.Stack) == 0 {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Error("a panic with an error value should unwrap to it")
	}
}

func TestTimeoutFiresThroughTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := shared.NewListener("slow", func(ctx context.Context, _ shared.Event) error {
			<-ctx.Done()
			return ctx.Err()
		})
		l := shared.Chain(slow, shared.Timeout(50*time.Millisecond))
		start := time.Now()
		err := l.Handle(context.Background(), shared.NewBaseEvent("e", "t", nil))
		var te *shared.TimeoutError
		if !errors.Is(err, shared.ErrTimeout) || !errors.As(err, &te) || te.ListenerID != "slow" {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Errorf("timed out after %v, want 50ms", d)
		}
		fast := shared.Chain(shared.NewBaseListener("fast", func(shared.Event) error { return nil }), shared.Timeout(time.Second))
		if err := fast.Handle(context.Background(), shared.NewBaseEvent("e", "t", nil)); err != nil {
			t.Errorf("fast listener: %v", err)
		}
	})
}

func TestTimeoutReportsTheCallersDeadlineAsItsOwn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		waits := shared.NewListener("waits", func(ctx context.Context, _ shared.Event) error {
			<-ctx.Done()
			return ctx.Err()
		})
		l := shared.Chain(waits, shared.Timeout(time.Hour))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := l.Handle(ctx, shared.NewBaseEvent("e", "t", nil))
		var te *shared.TimeoutError
		if errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the caller's context.DeadlineExceeded, not the middleware's hour", err)
		}
		cctx, ccancel := context.WithCancel(context.Background())
		ccancel()
		if err := l.Handle(cctx, shared.NewBaseEvent("e", "t", nil)); !errors.Is(err, context.Canceled) || errors.As(err, &te) {
			t.Errorf("cancelled caller: err = %v, want context.Canceled", err)
		}
	})
}

func TestPermanentMarksErrorsWithoutHidingThem(t *testing.T) {
	base := errors.New("invalid order")
	err := fmt.Errorf("handling: %w", shared.Permanent(base))
	if !shared.IsPermanent(err) || !errors.Is(err, base) || err.Error() != "handling: invalid order" {
		t.Errorf("err = %v", err)
	}
	if shared.IsPermanent(base) || shared.Permanent(nil) != nil {
		t.Error("unmarked error reported permanent, or Permanent(nil) not nil")
	}
}

func TestMiddlewareFuncToleratesNilHooks(t *testing.T) {
	var m shared.Middleware = shared.MiddlewareFunc{}
	if m.Before(context.Background(), nil) != nil || m.After(context.Background(), nil, errors.New("x")) != nil {
		t.Error("nil hooks returned errors")
	}
}

func TestValidateListener(t *testing.T) {
	var nilListener *shared.BaseListener
	if !errors.Is(shared.ValidateListener(nil), shared.ErrNilListener) || !errors.Is(shared.ValidateListener(nilListener), shared.ErrNilListener) {
		t.Error("nil listener accepted")
	}
	if !errors.Is(shared.ValidateListener(shared.NewBaseListener("", nil)), shared.ErrInvalidListener) {
		t.Error("empty ID accepted")
	}
	noFunc := shared.NewBaseListener("no-func", nil)
	if err := noFunc.Handle(context.Background(), nil); !errors.Is(err, shared.ErrNoHandler) || !shared.IsPermanent(err) {
		t.Errorf("Handle of a listener without a function = %v, want the permanent ErrNoHandler", err)
	}
	if err := shared.ValidateListener(noFunc); !errors.Is(err, shared.ErrNoHandler) || !errors.Is(err, shared.ErrInvalidListener) {
		t.Errorf("ValidateListener(no function) = %v, want ErrInvalidListener and ErrNoHandler", err)
	}
}

// validTypeModel is the plain definition validateType implements eight
// bytes at a time: valid UTF-8 text without NUL, non-empty tokens separated
// by '.', with no '*' or '>'.
func validTypeModel(t string) bool {
	if t == "" || strings.ContainsAny(t, "*>") || !utf8.ValidString(t) || strings.IndexByte(t, 0) >= 0 {
		return false
	}
	for _, tok := range strings.Split(t, ".") {
		if tok == "" {
			return false
		}
	}
	return true
}

func TestValidateTypeMatchesItsDefinition(t *testing.T) {
	alphabet := "ab.*>/-\x00\xc3\xa9\xff"
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(typ string) {
		t.Helper()
		err := shared.Validate(shared.NewBaseEvent("id", typ, nil))
		if got, want := err == nil, validTypeModel(typ); got != want {
			t.Fatalf("Validate(type %q) = %v, want valid=%v", typ, err, want)
		}
		if err != nil && !errors.Is(err, shared.ErrInvalidEvent) {
			t.Fatalf("Validate(type %q) = %v, not ErrInvalidEvent", typ, err)
		}
	}
	for _, typ := range []string{"a", "a.b", "order.created", "abcdefg.", "abcdefgh.ijk", "abcdefg..ijk",
		"abcdefgh..", "abcdefg.hijklmn.o", "a./b", "abcdefg./bcdefgh", ".abcdefghij", "abcdefghijklmnop>",
		"caf\xc3\xa9.cr\xc3\xa9\xc3\xa9", "a\x00b", "a.\xff", "\xc3", "\xc3\xa9.", "a.\xc3\xa9\xc3"} {
		check(typ)
	}
	for range 20000 {
		b := make([]byte, 1+rng.IntN(40))
		for i := range b {
			// Mostly letters, so that long valid types come up too.
			if rng.IntN(6) == 0 {
				b[i] = alphabet[2+rng.IntN(len(alphabet)-2)]
			} else {
				b[i] = alphabet[rng.IntN(2)]
			}
		}
		check(string(b))
	}
}
