package postgres

import (
	"errors"

	"github.com/novaevents/nova/store"
)

// The store package's errors, re-exported so that errors.Is works with
// either name.
var (
	ErrClosed              = store.ErrClosed
	ErrInvalidStreamID     = store.ErrInvalidStreamID
	ErrInvalidArgument     = store.ErrInvalidArgument
	ErrStreamNotFound      = store.ErrStreamNotFound
	ErrConcurrencyConflict = store.ErrConcurrencyConflict
	ErrTrimmed             = store.ErrTrimmed
	ErrDecode              = store.ErrDecode
	ErrSubscriptionClosed  = store.ErrSubscriptionClosed
)

// ErrConfig is returned by New and Open for a configuration they cannot use
// (a nil pool, a DSN that does not parse).
var ErrConfig = errors.New("postgres: invalid configuration")
