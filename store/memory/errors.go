package memory

import "github.com/novaevents/nova/store"

// The errors of this package are the store package's, re-exported so that
// errors.Is works with either name.
var (
	ErrClosed              = store.ErrClosed
	ErrInvalidStreamID     = store.ErrInvalidStreamID
	ErrInvalidArgument     = store.ErrInvalidArgument
	ErrStreamNotFound      = store.ErrStreamNotFound
	ErrConcurrencyConflict = store.ErrConcurrencyConflict
	ErrTrimmed             = store.ErrTrimmed
	ErrTooManyStreams      = store.ErrTooManyStreams
	ErrStreamFull          = store.ErrStreamFull
	ErrSubscriptionClosed  = store.ErrSubscriptionClosed
)
