package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
)

func TestTypedErrorsMatchTheirSentinels(t *testing.T) {
	decodeCause := &codec.DecodeError{TypeName: "order", Err: errors.New("bad json")}
	cases := []struct {
		name     string
		err      error
		sentinel error
		mentions []string
	}{
		{"a concurrency conflict", &store.ConcurrencyError{StreamID: "s", Expected: 1, Actual: 3}, store.ErrConcurrencyConflict,
			[]string{`"s"`, "expected version 1", "at 3"}},
		{"a trimmed read", &store.TrimmedError{StreamID: "s", Requested: 2, FirstAvailable: 9}, store.ErrTrimmed,
			[]string{`"s"`, "2", "9"}},
		{"a stream limit", &store.LimitError{Limit: "MaxStreams", Max: 5, StreamID: "x", Err: store.ErrTooManyStreams},
			store.ErrTooManyStreams, []string{"MaxStreams", "5", `"x"`, "nothing was written"}},
		{"an event limit", &store.LimitError{Limit: "MaxEventsPerStream", Max: 5, StreamID: "x", Err: store.ErrStreamFull},
			store.ErrStreamFull, []string{"MaxEventsPerStream"}},
		{"a decode failure", &store.DecodeError{EventID: "e-7", StreamID: "s", Version: 4, Err: decodeCause}, store.ErrDecode,
			[]string{`"e-7"`, "version 4", "bad json"}},
	}
	for _, c := range cases {
		wrapped := fmt.Errorf("outer: %w", c.err)
		if !errors.Is(wrapped, c.sentinel) {
			t.Errorf("%s does not match %v", c.name, c.sentinel)
		}
		for _, m := range c.mentions {
			if !strings.Contains(c.err.Error(), m) {
				t.Errorf("%s: %q does not mention %s", c.name, c.err.Error(), m)
			}
		}
	}
	var de *store.DecodeError
	err := fmt.Errorf("read: %w", &store.DecodeError{EventID: "e", Err: decodeCause})
	if !errors.As(err, &de) || !errors.Is(err, codec.ErrDecode) {
		t.Errorf("a DecodeError does not unwrap to the codec's error")
	}
}

func TestChecksRefuseBadInput(t *testing.T) {
	var typedNil *shared.BaseEvent
	good := shared.NewBaseEvent("id", "type", nil)
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"an empty stream ID", store.CheckStreamID(""), store.ErrInvalidStreamID},
		{"AllStreams as a stream", store.CheckStreamID(store.AllStreams), store.ErrInvalidStreamID},
		{"a stream ID", store.CheckStreamID("orders-1"), nil},
		{"a nil event", store.CheckEvents([]shared.Event{good, nil}), shared.ErrInvalidEvent},
		{"a typed nil event", store.CheckEvents([]shared.Event{typedNil}), shared.ErrInvalidEvent},
		{"no events", store.CheckEvents(nil), nil},
		{"an expected version of -2", store.CheckExpected(-2), store.ErrInvalidArgument},
		{"AnyVersion", store.CheckExpected(store.AnyVersion), nil},
		{"a from of -2", store.CheckFrom(-2), store.ErrInvalidArgument},
		{"FromEnd", store.CheckFrom(store.FromEnd), nil},
	}
	for _, c := range cases {
		if c.want == nil && c.err != nil || c.want != nil && !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	if err := store.CheckEvents([]shared.Event{good, nil}); !strings.Contains(err.Error(), "event 2 of 2") {
		t.Errorf("the error %q does not say which event is wrong", err)
	}
}
