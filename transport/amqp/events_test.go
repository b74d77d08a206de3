package amqp_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

type orderPlaced struct {
	OrderID string  `json:"order_id"`
	Amount  float64 `json:"amount"`
}

func TestEventsRoundTripAsCloudEvents(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t, 20*time.Second)
	reg := codec.NewRegistry()
	if err := codec.Register[orderPlaced](reg, "shop.order-placed"); err != nil {
		t.Fatal(err)
	}
	enc := amqp.EventEncoding{Registry: reg, Source: "/shop"}
	at := time.Date(2025, 1, 2, 3, 4, 5, 678000000, time.UTC)
	sent := shared.NewBaseEventAt("evt-1", "order.created", orderPlaced{OrderID: "o-1", Amount: 9.5}, at,
		map[string]string{"customer": "c-7", "traceparent": "00-abc-def-01", "id": "collides", "subject": "o-1",
			"customer_id": "c-8", "Trace-ID": "t-1", "": "empty key"})

	received := make(chan shared.Event, 1)
	k := f.consumer(t, amqp.ConsumerConfig{Events: enc})
	if err := k.StartEvents(ctx, shared.NewBaseListener("l", func(e shared.Event) error {
		received <- e
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	// A second, plain queue shows what any other AMQP client sees.
	raw := rawChannel(t)
	plain := f.name + ".plain"
	cleanupBroker(t, []string{plain}, nil)
	if _, err := raw.QueueDeclare(plain, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueueBind(plain, "order.*", f.exchange, false, nil); err != nil {
		t.Fatal(err)
	}

	p := f.publisher(t, amqp.PublisherConfig{Events: enc})
	if err := p.PublishEvent(ctx, f.exchange, sent); err != nil {
		t.Fatal(err)
	}

	got := <-received
	if got.ID() != sent.ID() || got.Type() != sent.Type() || !got.Timestamp().Equal(at) {
		t.Fatalf("got %s %s %v", got.ID(), got.Type(), got.Timestamp())
	}
	if data, ok := got.Data().(orderPlaced); !ok || data != sent.Data() {
		t.Fatalf("data %#v, want the registered type", got.Data())
	}
	if len(got.Metadata()) != len(sent.Metadata()) {
		t.Fatalf("metadata %v, want %v", got.Metadata(), sent.Metadata())
	}
	for k, v := range sent.Metadata() {
		if got.Metadata()[k] != v {
			t.Fatalf("metadata %v, want %v", got.Metadata(), sent.Metadata())
		}
	}

	m := getOne(t, plain, 10*time.Second)
	wantHeaders := map[string]string{
		"cloudEvents_specversion":  "1.0",
		"cloudEvents_id":           "evt-1",
		"cloudEvents_type":         "order.created",
		"cloudEvents_source":       "/shop",
		"cloudEvents_time":         "2025-01-02T03:04:05.678Z",
		"cloudEvents_customer":     "c-7",
		"cloudEvents_subject":      "o-1",
		"cloudEvents_traceparent":  "00-abc-def-01",
		"cloudEvents_novametadata": `{"":"empty key","Trace-ID":"t-1","customer_id":"c-8","id":"collides"}`,
	}
	for k, v := range wantHeaders {
		if m.Headers[k] != v {
			t.Errorf("header %s = %v, want %q", k, m.Headers[k], v)
		}
	}
	if m.ContentType != "application/json" || string(m.Body) != `{"order_id":"o-1","amount":9.5}` {
		t.Errorf("content-type %q, body %s", m.ContentType, m.Body)
	}
	if m.RoutingKey != "order.created" || m.MessageId != "evt-1" || m.DeliveryMode != amqp091.Persistent {
		t.Errorf("routing key %q, message-id %q, delivery mode %d", m.RoutingKey, m.MessageId, m.DeliveryMode)
	}
}

func TestPublishEventRefusesInvalidEvents(t *testing.T) {
	f := newFixture(t)
	p := f.publisher(t, amqp.PublisherConfig{})
	ctx := testCtx(t, 5*time.Second)
	var typedNil *shared.BaseEvent
	for name, e := range map[string]shared.Event{
		"nil":       nil,
		"typed nil": typedNil,
		"no id":     shared.NewBaseEvent("", "t", nil),
		"no type":   shared.NewBaseEvent("id", "", nil),
		"zero":      &shared.BaseEvent{},
	} {
		if err := p.PublishEvent(ctx, f.exchange, e); !errors.Is(err, shared.ErrInvalidEvent) {
			t.Errorf("%s: got %v, want ErrInvalidEvent", name, err)
		}
	}
	if err := p.PublishEvent(ctx, f.exchange, shared.NewBaseEvent("id", "t", func() {})); !errors.Is(err, codec.ErrEncode) {
		t.Errorf("unencodable payload: got %v", err)
	}
}

func TestMalformedMessagesAreDeadLetteredWithAReason(t *testing.T) {
	valid := amqp091.Table{"cloudEvents:id": "e", "cloudEvents:type": "t", "cloudEvents:specversion": "1.0"}
	without := func(key string) amqp091.Table {
		h := amqp091.Table{}
		for k, v := range valid {
			if k != key {
				h[k] = v
			}
		}
		return h
	}
	with := func(key string, v any) amqp091.Table {
		h := without(key)
		h[key] = v
		return h
	}
	cases := []struct {
		name   string
		pub    amqp091.Publishing
		reason string
	}{
		{"a message without id", amqp091.Publishing{Headers: without("cloudEvents:id")}, "cloudEvents:id: missing"},
		{"a message without type", amqp091.Publishing{Headers: without("cloudEvents:type")}, "cloudEvents:type: missing"},
		{"a message with an empty id", amqp091.Publishing{Headers: with("cloudEvents:id", "")}, "cloudEvents:id: empty"},
		{"a message from CloudEvents 2", amqp091.Publishing{Headers: with("cloudEvents:specversion", "2.0")}, "unsupported CloudEvents version"},
		{"a message with a bad time", amqp091.Publishing{Headers: with("cloudEvents:time", "yesterday")}, "cloudEvents:time: not an RFC 3339 time"},
		{"a message with an undecodable body", amqp091.Publishing{Headers: valid, ContentType: "application/json", Body: []byte("{not json")}, "body: payload cannot be decoded"},
		{"a message whose gzip body is corrupt", amqp091.Publishing{Headers: valid, ContentEncoding: "gzip", Body: []byte("not gzip")}, "content-encoding is gzip but the body is not"},
		{"a message with no headers at all", amqp091.Publishing{Body: []byte("hello")}, "message: not a CloudEvent"},
		{"a message with a wildcard type", amqp091.Publishing{Headers: with("cloudEvents:type", "order.*")}, "cloudEvents:type: not a valid Nova event type"},
		{"a message with an empty type token", amqp091.Publishing{Headers: with("cloudEvents:type", "a..b")}, "cloudEvents:type: not a valid Nova event type"},
		{"a structured message without id", amqp091.Publishing{ContentType: amqp.ContentTypeCloudEventsJSON, Body: []byte(`{"specversion":"1.0","type":"t","source":"/x"}`)}, "id: missing"},
	}
	f := newFixture(t)
	ctx := testCtx(t, 30*time.Second)
	var handled int
	k := f.consumer(t, amqp.ConsumerConfig{Retry: amqp.RetryPolicy{MaxAttempts: 6, InitialDelay: 10 * time.Millisecond}})
	if err := k.StartEvents(ctx, shared.NewBaseListener("l", func(shared.Event) error {
		handled++
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	raw := rawChannel(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := raw.PublishWithContext(ctx, f.exchange, "bad", false, false, tc.pub); err != nil {
				t.Fatal(err)
			}
			dead := getOne(t, f.dlq(), 10*time.Second)
			reason, _ := dead.Headers[amqp.HeaderDeadLetterReason].(string)
			if !strings.Contains(reason, "amqp: malformed message") || !strings.Contains(reason, tc.reason) {
				t.Fatalf("reason %q, want %q", reason, tc.reason)
			}
			if dead.Headers[amqp.HeaderRetries] != int64(0) {
				t.Fatalf("malformed message was retried: %v", dead.Headers[amqp.HeaderRetries])
			}
		})
	}
	if err := k.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := k.Stats(); handled != 0 || st.Malformed != uint64(len(cases)) || st.DeadLettered != uint64(len(cases)) || st.Retried != 0 {
		t.Fatalf("handled %d, stats %+v", handled, st)
	}
}

func TestEventEncodingDecodesLegacyPrefixAndForeignContent(t *testing.T) {
	d := &amqp.Delivery{
		Headers:     amqp.Table{"cloudEvents_id": "e-9", "cloudEvents_type": "t", "cloudEvents_source": "/legacy"},
		ContentType: "text/plain; charset=utf-8",
		Body:        []byte("hello"),
	}
	e, err := amqp.EventEncoding{}.Decode(d)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID() != "e-9" || e.Metadata()["source"] != "/legacy" || string(e.Data().([]byte)) != "hello" {
		t.Fatalf("decoded %s %v %#v", e.ID(), e.Metadata(), e.Data())
	}
	if _, err := (amqp.EventEncoding{}).Decode(nil); !errors.Is(err, amqp.ErrMalformed) {
		t.Fatalf("nil delivery: %v", err)
	}
}
