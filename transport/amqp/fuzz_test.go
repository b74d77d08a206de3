package amqp_test

import (
	"errors"
	"maps"
	"testing"
	"time"
	"unicode/utf8"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

// FuzzDecode feeds Decode messages built from arbitrary attributes, body
// and content type: it must return an event that passes shared.Validate or
// a *MalformedError, and never panic.
func FuzzDecode(f *testing.F) {
	f.Add("cloudEvents_", "e", "order.created", "2025-01-02T03:04:05Z", "application/json", []byte(`{"a":1}`), `{"k":"v"}`, "t.x")
	f.Add("cloudEvents:", "e", "a..b", "", "", []byte(nil), "", "")
	f.Add("", "", "", "", "application/cloudevents+json", []byte(`{"specversion":"1.0","id":"x","type":"t","data_base64":"AA=="}`), "", "")
	f.Add("", "", "", "", "application/cloudevents+json; charset=utf-8", []byte(`{"id":"x","type":"t","datacontenttype":"text/plain","data":"hi"}`), "", "")
	f.Add("cloudEvents_", "e", "t", "yesterday", "text/plain; q=\"", []byte("x"), "[", "typ")
	reg := codec.NewRegistry()
	if err := codec.Register[orderPlaced](reg, "t.x"); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, prefix, id, typ, at, contentType string, body []byte, packed, dataType string) {
		h := amqp.Table{}
		if prefix != "" {
			// Headers of other AMQP types than strings, chosen by the input.
			var idValue any = id
			switch len(body) % 4 {
			case 1:
				idValue = []byte(id)
			case 2:
				idValue = int64(len(id))
			case 3:
				idValue = amqp.Table{"nested": id}
			}
			h[prefix+"id"] = idValue
			h[prefix+"type"] = typ
			h[prefix+"specversion"] = "1.0"
			if at != "" {
				h[prefix+"time"] = at
			}
			if packed != "" {
				h[prefix+"novametadata"] = packed
			}
			if dataType != "" {
				h[prefix+"novadatatype"] = dataType
			}
		}
		e, err := amqp.EventEncoding{Registry: reg}.Decode(&amqp.Delivery{Headers: h, ContentType: contentType, Body: body})
		if err != nil {
			if !errors.Is(err, amqp.ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		if err := shared.Validate(e); err != nil {
			t.Fatalf("decoded an invalid event: %v", err)
		}
	})
}

// FuzzEventRoundTrip checks that any valid event with one metadata entry
// comes back exactly, in binary and structured mode.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add("e-1", "order.created", "customer_id", "c-7", "payload")
	f.Add("e-2", "t", "", "", "")
	f.Add("e-3", "a.b", "Trace-ID", "x", "{}")
	f.Add("e-4", "t", "source", "nova", "x")
	f.Fuzz(func(t *testing.T, id, typ, key, value, payload string) {
		if !utf8.ValidString(payload) {
			t.Skip("JSON payloads are text")
		}
		at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		sent := shared.NewBaseEventAt(id, typ, payload, at, map[string]string{key: value})
		if shared.Validate(sent) != nil {
			return
		}
		for _, enc := range []amqp.EventEncoding{{}, {Mode: amqp.Structured}} {
			msg, err := enc.Encode(sent)
			if errors.Is(err, shared.ErrInvalidEvent) && !allText(id, typ, key, value) {
				return // refused: not text
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := enc.Decode(&amqp.Delivery{Headers: msg.Headers, ContentType: msg.ContentType, Body: msg.Body})
			if err != nil {
				t.Fatalf("%v: %v", enc.Mode, err)
			}
			var data any = payload
			if got.ID() != id || got.Type() != typ || !got.Timestamp().Equal(at) || got.Data() != data {
				t.Fatalf("%v: got %q %q %v %#v", enc.Mode, got.ID(), got.Type(), got.Timestamp(), got.Data())
			}
			if !maps.Equal(got.Metadata(), sent.Metadata()) {
				t.Fatalf("%v: metadata %q, want %q", enc.Mode, got.Metadata(), sent.Metadata())
			}
		}
	})
}

// FuzzFormatValue checks that header formatting never panics and always
// returns valid UTF-8 for byte slices.
func FuzzFormatValue(f *testing.F) {
	f.Add([]byte("text"), "s", int64(-3), uint8(2))
	f.Add([]byte{0xff, 0xfe}, "", int64(0), uint8(0))
	f.Add([]byte{}, "\xff", int64(1<<40), uint8(255))
	f.Fuzz(func(t *testing.T, b []byte, s string, n int64, scale uint8) {
		if got := amqp.FormatValue(b); !utf8.ValidString(got) {
			t.Fatalf("FormatValue(%x) = %q is not UTF-8", b, got)
		}
		for _, v := range []any{s, n, int32(n), uint8(n), float64(n), amqp.Table{"k": b}, []any{s, n},
			time.Unix(n%(1<<35), 0), decimal(n, scale)} {
			_ = amqp.FormatValue(v)
		}
	})
}

func decimal(n int64, scale uint8) amqp091.Decimal {
	return amqp091.Decimal{Scale: scale, Value: int32(n)}
}

func allText(s ...string) bool {
	for _, x := range s {
		if !utf8.ValidString(x) {
			return false
		}
	}
	return true
}
