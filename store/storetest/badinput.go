package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
)

// badCall is a call that must be refused with an error matching want.
type badCall struct {
	name string
	call func() error
	want error
}

func (s *suite) testBadInput(t *testing.T) {
	st, ctx := s.open(t)
	good := newEvent("good", 1)
	var typedNil *shared.BaseEvent
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	cases := []badCall{
		{"a nil event", func() error { return st.Append(ctx, "s", nil) }, shared.ErrInvalidEvent},
		{"a typed nil event", func() error { return st.Append(ctx, "s", typedNil) }, shared.ErrInvalidEvent},
		{"an event without an ID", func() error { return st.Append(ctx, "s", shared.NewBaseEvent("", "t", nil)) }, shared.ErrInvalidEvent},
		{"an event without a type", func() error { return st.Append(ctx, "s", shared.NewBaseEvent("id", "", nil)) }, shared.ErrInvalidEvent},
		{"a zero BaseEvent", func() error { return st.Append(ctx, "s", &shared.BaseEvent{}) }, shared.ErrInvalidEvent},
		{"a batch with one bad event in the middle", func() error { return st.Append(ctx, "s", good, nil, newEvent("g2", 2)) }, shared.ErrInvalidEvent},
		{"an empty stream ID", func() error { return st.Append(ctx, "", good) }, store.ErrInvalidStreamID},
		{"AllStreams as a stream to append to", func() error { return st.Append(ctx, store.AllStreams, good) }, store.ErrInvalidStreamID},
		{"an expected version below AnyVersion", func() error { return st.AppendExpected(ctx, "s", -2, good) }, store.ErrInvalidArgument},
		{"AppendExpected with a bad event", func() error { return st.AppendExpected(ctx, "s", store.NoStream, nil) }, shared.ErrInvalidEvent},
		{"an append with a cancelled context", func() error { return st.Append(cancelled, "s", good) }, context.Canceled},
		{"a read of an empty stream ID", func() error { _, err := st.Read(ctx, "", 0, 0); return err }, store.ErrInvalidStreamID},
		{"a read from a negative version", func() error { _, err := st.Read(ctx, "s", -2, 0); return err }, store.ErrInvalidArgument},
		{"ReadAll from a negative position", func() error { _, err := st.ReadAll(ctx, -7, 0); return err }, store.ErrInvalidArgument},
		{"a subscription to an empty stream ID", func() error { _, err := st.Subscribe(ctx, "", 0); return err }, store.ErrInvalidStreamID},
		{"a subscription from a negative version", func() error { _, err := st.Subscribe(ctx, "s", -3); return err }, store.ErrInvalidArgument},
		{"GetStreamInfo of an empty stream ID", func() error { _, err := st.GetStreamInfo(ctx, ""); return err }, store.ErrInvalidStreamID},
		{"Replay without a callback", func() error { return st.Replay(ctx, time.Time{}, time.Time{}, nil) }, store.ErrInvalidArgument},
		{"a read of AllStreams as one stream (ReadAll reads every stream)", func() error {
			_, err := st.Read(ctx, store.AllStreams, store.FromStart, 0)
			return err
		}, store.ErrInvalidStreamID},
		{"GetStreamInfo of AllStreams", func() error { _, err := st.GetStreamInfo(ctx, store.AllStreams); return err }, store.ErrInvalidStreamID},
		{"an all-streams subscription from a negative position", func() error {
			_, err := st.Subscribe(ctx, store.AllStreams, -2)
			return err
		}, store.ErrInvalidArgument},
		{"a read with a cancelled context", func() error { _, err := st.Read(cancelled, "s", store.FromStart, 0); return err }, context.Canceled},
		{"ReadAll with a cancelled context", func() error { _, err := st.ReadAll(cancelled, store.FromStart, 0); return err }, context.Canceled},
		{"ReadTimeRange with a cancelled context", func() error {
			_, err := st.ReadTimeRange(cancelled, time.Time{}, time.Time{}, 0)
			return err
		}, context.Canceled},
		{"GetStreams with a cancelled context", func() error { _, err := st.GetStreams(cancelled); return err }, context.Canceled},
		{"GetStreamInfo with a cancelled context", func() error { _, err := st.GetStreamInfo(cancelled, "s"); return err }, context.Canceled},
		{"Replay with a cancelled context", func() error {
			return st.Replay(cancelled, time.Time{}, time.Time{}, func(store.Record) error { return nil })
		}, context.Canceled},
		{"a subscription with a cancelled context", func() error { _, err := st.Subscribe(cancelled, "s", store.FromStart); return err }, context.Canceled},
	}
	// Text that no store keeps as it is: refused by every store the same
	// way, as a permanent error, before anything is written.
	withMeta := func(k, v string) shared.Event {
		return shared.NewBaseEventWithMetadata("m", "t", nil, map[string]string{k: v})
	}
	for name, call := range map[string]func() error{
		"a NUL byte in a stream ID":         func() error { return st.Append(ctx, "s\x00", good) },
		"invalid UTF-8 in a stream ID":      func() error { return st.Append(ctx, "s\xff", good) },
		"a NUL byte in an event ID":         func() error { return st.Append(ctx, "s", shared.NewBaseEvent("id\x00", "t", nil)) },
		"invalid UTF-8 in an event ID":      func() error { return st.Append(ctx, "s", shared.NewBaseEvent("id\xc3", "t", nil)) },
		"a NUL byte in an event type":       func() error { return st.Append(ctx, "s", shared.NewBaseEvent("id", "t\x00", nil)) },
		"invalid UTF-8 in an event type":    func() error { return st.Append(ctx, "s", shared.NewBaseEvent("id", "order.\xe2\x82", nil)) },
		"a NUL byte in a metadata key":      func() error { return st.Append(ctx, "s", withMeta("k\x00", "v")) },
		"invalid UTF-8 in a metadata value": func() error { return st.Append(ctx, "s", withMeta("k", "\xff")) },
		"a read of a stream ID with a NUL":  func() error { _, err := st.Read(ctx, "s\x00", 0, 0); return err },
		"AppendExpected with invalid UTF-8 ID": func() error {
			return st.AppendExpected(ctx, "s", store.NoStream, shared.NewBaseEvent("\xff", "t", nil))
		},
	} {
		cases = append(cases, badCall{name, func() error {
			err := call()
			if err != nil && !shared.IsPermanent(err) {
				return fmt.Errorf("not permanent: %w", err)
			}
			return err
		}, store.ErrInvalidText})
	}
	if tr, ok := st.(store.Trimmer); ok {
		cases = append(cases, []badCall{
			{"TrimStream of an empty stream ID", func() error { _, err := tr.TrimStream(ctx, "", 1); return err }, store.ErrInvalidStreamID},
			{"TrimStream of AllStreams", func() error { _, err := tr.TrimStream(ctx, store.AllStreams, 1); return err }, store.ErrInvalidStreamID},
			{"TrimStream with a cancelled context", func() error { _, err := tr.TrimStream(cancelled, "s", 1); return err }, context.Canceled},
			{"TrimBefore with a cancelled context", func() error { _, err := tr.TrimBefore(cancelled, time.Now()); return err }, context.Canceled},
		}...)
	}
	for _, c := range cases {
		t.Run(c.name+" is refused", func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				err = c.call()
			}()
			wantErrIs(t, c.name, err, c.want)
		})
	}

	t.Run("nothing was written by the refused calls", func(t *testing.T) {
		if recs := mustReadAll(t, ctx, st, store.FromStart, 0); len(recs) != 0 {
			t.Errorf("the store holds %v", describeAll(recs))
		}
		if infos, err := st.GetStreams(ctx); err != nil || len(infos) != 0 {
			t.Errorf("GetStreams = %+v, %v; want no stream", infos, err)
		}
	})

	t.Run("an append of no events is a no-op that creates no stream", func(t *testing.T) {
		if err := st.Append(ctx, "empty"); err != nil {
			t.Fatalf("Append with no events = %v", err)
		}
		if infos, err := st.GetStreams(ctx); err != nil || len(infos) != 0 {
			t.Errorf("GetStreams = %+v, %v; want no stream", infos, err)
		}
	})
}
