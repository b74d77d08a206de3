package logging_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/novaevents/nova/observe/internal/rabbit"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

// recordChan is a slog.Handler that hands records to a channel, dropping
// those that find it full.
type recordChan chan slog.Record

func (c recordChan) Enabled(context.Context, slog.Level) bool { return true }
func (c recordChan) Handle(_ context.Context, r slog.Record) error {
	select {
	case c <- r.Clone():
	default: // never block the client
	}
	return nil
}
func (c recordChan) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c recordChan) WithGroup(string) slog.Handler      { return c }

// A malformed message is dead-lettered without reaching the listener: the
// consumer cannot return that to anyone, so it says so in its log.
func TestRabbitMQConsumerLogsMalformedMessages(t *testing.T) {
	rabbit.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := rabbit.Name(t)
	q := name + ".q"
	rabbit.Cleanup(t, []string{q, q + ".dlq"}, nil)
	records := make(recordChan, 16)
	client, err := amqp.Dial(ctx, amqp.Config{URL: rabbit.URL(), Logger: slog.New(records),
		Topology: amqp.Topology{Queues: []amqp.Queue{{Name: q}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	con, err := client.NewConsumer(amqp.ConsumerConfig{Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	called := make(chan struct{}, 1)
	if err := con.StartEvents(ctx, shared.NewBaseListener("l", func(shared.Event) error { called <- struct{}{}; return nil })); err != nil {
		t.Fatal(err)
	}
	pub, err := client.NewPublisher(amqp.PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// No cloudEvents:id: not an event.
	if err := pub.Publish(ctx, "", amqp.Message{RoutingKey: q, MessageID: "m-1", Body: []byte("{}"),
		Headers: amqp.Table{"cloudEvents:type": "order.created"}}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case r := <-records:
			if r.Message != "amqp: malformed message; dead-lettering it" {
				continue
			}
			got := map[string]string{}
			r.Attrs(func(a slog.Attr) bool { got[a.Key] = a.Value.String(); return true })
			if got["queue"] != q || got["message_id"] != "m-1" || got["error"] == "" {
				t.Errorf("record attributes %v", got)
			}
			if err := con.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-called:
				t.Error("the listener saw the malformed message")
			default:
			}
			return
		case <-ctx.Done():
			t.Fatalf("no record of the malformed message: %v", ctx.Err())
		}
	}
}
