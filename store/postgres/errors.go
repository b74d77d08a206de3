package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/novaevents/nova/shared"
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
	ErrEncode              = store.ErrEncode
	ErrBackend             = store.ErrBackend
	ErrSubscriptionClosed  = store.ErrSubscriptionClosed
)

// ErrConfig is matched by the *ConfigError New, Open and
// NewIdempotencyStore return for a configuration they cannot use (a nil
// pool, an empty DSN or one that does not parse, a negative duration or
// size). It is shared.ErrInvalidConfig.
var ErrConfig = shared.ErrInvalidConfig

// ConfigError says which setting was refused, and why: it is
// shared.ConfigError, the one shape every Nova package refuses a setting
// in. It matches ErrConfig.
type ConfigError = shared.ConfigError

func configError(field, reason string) *ConfigError {
	return shared.NewConfigError("postgres", field, reason)
}

// ErrClaimHeld is returned by IdempotencyStore.Claim when another holder,
// alive as far as PostgreSQL knows, kept the event claimed for
// IdempotencyConfig.HeldClaimWait: the caller should try again later.
var ErrClaimHeld = errors.New("postgres: event claimed by another live holder")

// backendError wraps an error of PostgreSQL or pgx so that it matches
// store.ErrBackend as well as its cause, and names the call that failed. A
// context error (pgx's errors for a cancelled query match it) is returned
// unchanged: cancelling is the caller's doing, not a failure of the database.
func backendError(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: postgres: %s: %w", store.ErrBackend, op, err)
}
