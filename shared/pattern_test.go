package shared_test

import (
	"errors"
	"testing"

	"github.com/novaevents/nova/shared"
)

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, subject string
		want             bool
	}{
		{"order.created", "order.created", true},
		{"order.created", "order.updated", false},
		{"order.created", "order.created.v2", false},
		{"order", "order.created", false},
		{"order.*", "order.created", true},
		{"order.*", "order.item.added", false},
		{"order.*", "order", false},
		{"order.*", "orders.created", false},
		{"*.created", "user.created", true},
		{"*.created", "user.profile.created", false},
		{"*", "order", true},
		{"*", "order.created", false},
		{"order.>", "order.created", true},
		{"order.>", "order.item.added", true},
		{"order.>", "order", false},
		{">", "anything.at.all", true},
		{">", "x", true},
		{"order.*.added", "order.item.added", true},
		{"order.*.added", "order.item.removed", false},
		{"*.*", "a.b", true},
		{"*.*", "a", false},
		{"order.*.>", "order.item", false},
		{"order.*.>", "order.item.added", true},
	}
	for _, tt := range tests {
		if got := shared.MatchPattern(tt.pattern, tt.subject); got != tt.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tt.pattern, tt.subject, got, tt.want)
		}
	}
}

func TestValidatePattern(t *testing.T) {
	for _, p := range []string{"order.*", "order.>", ">", "*", "a.b.c", "*.created"} {
		if err := shared.ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"", "order.", ".order", "order..x", "order.>.x", "ord*", "order.cr>"} {
		if err := shared.ValidatePattern(p); !errors.Is(err, shared.ErrInvalidPattern) {
			t.Errorf("ValidatePattern(%q) = %v, want ErrInvalidPattern", p, err)
		}
	}
}

func BenchmarkMatchPattern(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		shared.MatchPattern("order.*.>", "order.item.added")
	}
}
