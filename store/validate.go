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
	return nil
}

// CheckEvents validates every event of a batch (shared.Validate). The error
// says which event is wrong and matches shared.ErrInvalidEvent.
func CheckEvents(events []shared.Event) error {
	for i, e := range events {
		if err := shared.Validate(e); err != nil {
			return fmt.Errorf("store: event %d of %d: %w", i+1, len(events), err)
		}
	}
	return nil
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
