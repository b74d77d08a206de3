package attempts_test

import (
	"context"
	"testing"

	"github.com/novaevents/nova/observe/internal/attempts"
)

func TestAttemptsAreNumberedUntilASuccess(t *testing.T) {
	var tab attempts.Table
	ctx := context.Background()
	for want := 1; want <= 3; want++ {
		if got := tab.Start(ctx, "l", "e1"); got != want {
			t.Fatalf("attempt %d numbered %d", want, got)
		}
		tab.Done("l", "e1", want < 3)
	}
	if got := tab.Start(ctx, "l", "e1"); got != 1 {
		t.Errorf("after a success the next attempt is %d, want 1", got)
	}
	tab.Done("other", "e1", true)
	if got := tab.Start(ctx, "l", "e1"); got != 1 {
		t.Errorf("another listener's failure numbered this one %d", got)
	}
	if got := tab.Start(attempts.WithAttempt(ctx, 7), "l", "e1"); got != 7 {
		t.Errorf("the context's number is ignored: %d", got)
	}
}

func TestTableStaysBounded(t *testing.T) {
	tab := attempts.Table{Size: 4}
	for i := range 100 {
		tab.Done("l", string(rune('a'+i)), true)
	}
	tab.Done("l", "last", true)
	if got := tab.Start(context.Background(), "l", "last"); got != 2 {
		t.Errorf("the newest failure was evicted: %d", got)
	}
}
