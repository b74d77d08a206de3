//go:build !unix

package brokerlock

import "testing"

// Shared does nothing where flock is not available.
func Shared(testing.TB) {}

// Exclusive does nothing where flock is not available.
func Exclusive(testing.TB) {}
