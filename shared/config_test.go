package shared_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/novaevents/nova/shared"
)

func TestConfigErrorNamesComponentFieldAndReason(t *testing.T) {
	err := fmt.Errorf("open: %w", shared.NewConfigError("workerpool", "workers", shared.Range(100000, 1, 4096)))
	if !errors.Is(err, shared.ErrInvalidConfig) {
		t.Fatalf("%v does not match ErrInvalidConfig", err)
	}
	var ce *shared.ConfigError
	if !errors.As(err, &ce) || ce.Component != "workerpool" || ce.Field != "workers" {
		t.Fatalf("errors.As: %+v", ce)
	}
	if got, want := err.Error(), "open: workerpool: invalid config: workers: 100000 is outside 1 to 4096"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
