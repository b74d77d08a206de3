package prom

import "errors"

var (
	// ErrNoRegisterer is returned by New when Options.Registerer is nil.
	ErrNoRegisterer = errors.New("prom: Options.Registerer is required")
	// ErrInvalidOptions is returned by New for a negative cap or buckets
	// that do not increase.
	ErrInvalidOptions = errors.New("prom: invalid options")
	// ErrUnsupported is returned by Watch for a value whose Stats it
	// cannot read.
	ErrUnsupported = errors.New("prom: unsupported component")
	// ErrDuplicate is returned by Watch for a component name already
	// watched.
	ErrDuplicate = errors.New("prom: component already watched")
	// ErrNoName is returned by Watch for an empty component name.
	ErrNoName = errors.New("prom: empty component name")
)
