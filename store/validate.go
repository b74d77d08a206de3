package store

import (
	"fmt"

	"github.com/novaevents/nova/shared"
)

// The checks below are what every implementation runs before touching its
// storage, so that all of them refuse the same input with the same errors.

// CheckStreamID refuses an empty stream ID and AllStreams as a stream to
// write to or describe.
func CheckStreamID(streamID string) error {
	if streamID == "" {
		return fmt.Errorf("%w: empty", ErrInvalidStreamID)
	}
	if streamID == AllStreams {
		return fmt.Errorf("%w: %q is reserved for subscriptions to every stream", ErrInvalidStreamID, AllStreams)
	}
	if !shared.TextOK(streamID) {
		return fmt.Errorf("%w: %q: %w", ErrInvalidStreamID, streamID, ErrInvalidText)
	}
	return nil
}

// CheckEventText refuses events whose ID or metadata is not valid UTF-8 or
// holds a NUL byte (ErrInvalidText, also matching shared.ErrInvalidEvent);
// shared.Validate has checked their types the same way.
func CheckEventText(events []shared.Event) error {
	for i, e := range events {
		if err := eventText(e); err != nil {
			return fmt.Errorf("store: event %d of %d: %w", i+1, len(events), err)
		}
	}
	return nil
}

func eventText(e shared.Event) error {
	bad := func(what, s string) error {
		return fmt.Errorf("%w: %w: %s %q", shared.ErrInvalidEvent, ErrInvalidText, what, s)
	}
	if !shared.TextOK(e.ID()) {
		return bad("ID", e.ID())
	}
	for k, v := range e.Metadata() {
		if !shared.TextOK(k) {
			return bad("metadata key", k)
		}
		if !shared.TextOK(v) {
			return bad("metadata value of "+fmt.Sprintf("%q", k), v)
		}
	}
	return nil
}

// CheckEvents validates every event of a batch (shared.Validate). The error
// says which event is wrong and matches shared.ErrInvalidEvent.
func CheckEvents(events []shared.Event) error {
	for i, e := range events {
		if err := shared.Validate(e); err != nil {
			if !shared.IsNil(e) && !shared.TextOK(e.Type()) {
				err = fmt.Errorf("%w: %w", ErrInvalidText, err)
			}
			return fmt.Errorf("store: event %d of %d: %w", i+1, len(events), err)
		}
	}
	return CheckEventText(events)
}

// CheckExpected refuses an expected version below AnyVersion.
func CheckExpected(expected int64) error {
	if expected < AnyVersion {
		return fmt.Errorf("%w: expected version %d", ErrInvalidArgument, expected)
	}
	return nil
}

// CheckFrom refuses a starting version or position below FromEnd.
func CheckFrom(from int64) error {
	if from < FromEnd {
		return fmt.Errorf("%w: from %d", ErrInvalidArgument, from)
	}
	return nil
}
