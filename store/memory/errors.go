package memory

import (
	"errors"

	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/store"
)

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
	ErrInvalidText         = store.ErrInvalidText
)

var (
	// ErrNotInitialized is returned by every method of a Store that New
	// did not make (the zero Store).
	ErrNotInitialized = errors.New("memory: zero Store: create it with memory.New")
	// ErrInvalidConfig is matched by the *ConfigError that every method of
	// a Store made from a Config with a negative field returns. It is
	// shared.ErrInvalidConfig.
	ErrInvalidConfig = shared.ErrInvalidConfig
)

// ConfigError says which Config field New refused, and why: it is
// shared.ConfigError, the one shape every Nova package refuses a setting
// in. It matches ErrInvalidConfig.
type ConfigError = shared.ConfigError
