package logging_test

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/novaevents/nova/observe/logging"
	"github.com/novaevents/nova/shared"
)

func ExampleListener() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == logging.KeyDuration {
				return slog.Attr{} // vary from run to run
			}
			return a
		},
	}))
	failing := shared.NewBaseListener("inventory", func(shared.Event) error { return errors.New("out of stock") })
	l := logging.Listener(logger, logging.Options{})(failing)
	_ = l.Handle(context.Background(), shared.NewBaseEvent("o-1", "order.created", nil))
	// Output: level=ERROR msg="nova: event handling failed" event_id=o-1 event_type=order.created listener=inventory attempt=1 error="out of stock"
}
