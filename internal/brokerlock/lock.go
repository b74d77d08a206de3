//go:build unix

// Package brokerlock lets test processes share the loopback RabbitMQ
// broker safely: `go test ./...` runs packages in parallel, and a test that
// closes every connection or stops the broker's app must not run while
// another package's test relies on it. Tests that disturb the broker take
// the lock exclusively; tests that only use it take it shared. The lock is
// an flock on a file in the temporary directory, released when the test
// ends (or its process dies).
package brokerlock

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func lock(t testing.TB, how int) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "nova-rabbitmq.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("brokerlock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		t.Fatalf("brokerlock: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}

// Shared holds the broker for a test that uses it, until the test ends.
func Shared(t testing.TB) { lock(t, syscall.LOCK_SH) }

// Exclusive holds the broker for a test that disturbs it (closes
// connections, stops the app), until the test ends.
func Exclusive(t testing.TB) { lock(t, syscall.LOCK_EX) }
