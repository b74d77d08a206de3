package amqp_test

import (
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

// delivery is what a consumer would hand over for msg.
func delivery(msg amqp.Message) *amqp.Delivery {
	return &amqp.Delivery{
		Body: msg.Body, ContentType: msg.ContentType, Headers: msg.Headers,
		MessageID: msg.MessageID, Type: msg.Type, Timestamp: msg.Timestamp,
	}
}

// awkwardMetadata has every kind of key the CloudEvents naming rules refuse
// next to ones they accept.
var awkwardMetadata = map[string]string{
	"customer_id":           "c-7",
	"trace_id":              "4bf92f3577b34da6",
	"Trace-ID":              "mixed case",
	"":                      "empty key",
	"tenant":                "acme",
	"empty":                 "",
	"id":                    "collides with the id attribute",
	"novametadata":          "collides with the carrier",
	"a21characterlongkey12": "one past the limit",
	"source":                "/shop",
	"subject":               "o-1",
	"dataschema":            "not a URI",
	"ünïcode":               "välue",
}

var attributeName = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

func TestEventEncodingRoundTripsMetadataExactlyInEveryMode(t *testing.T) {
	reg := codec.NewRegistry()
	if err := codec.Register[orderPlaced](reg, "shop.order-placed"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 678000000, time.UTC)
	sent := shared.NewBaseEventAt("evt-1", "order.created", orderPlaced{OrderID: "o-1", Amount: 9.5}, at, awkwardMetadata)
	for _, enc := range []amqp.EventEncoding{
		{Registry: reg},
		{Registry: reg, Prefix: amqp.PrefixColon},
		{Registry: reg, Mode: amqp.Structured},
		{Registry: reg, Source: "/shop"}, // metadata source equal to Source
	} {
		t.Run(enc.Mode.String()+enc.Prefix+enc.Source, func(t *testing.T) {
			msg, err := enc.Encode(sent)
			if err != nil {
				t.Fatal(err)
			}
			got, err := enc.Decode(delivery(msg))
			if err != nil {
				t.Fatal(err)
			}
			if got.ID() != "evt-1" || got.Type() != "order.created" || !got.Timestamp().Equal(at) {
				t.Fatalf("got %s %s %v", got.ID(), got.Type(), got.Timestamp())
			}
			if got.Data() != sent.Data() {
				t.Fatalf("data %#v", got.Data())
			}
			if !maps.Equal(got.Metadata(), sent.Metadata()) {
				t.Fatalf("metadata\n got %q\nwant %q", got.Metadata(), sent.Metadata())
			}
		})
	}
}

func TestEventEncodingWritesOnlyValidAttributeNames(t *testing.T) {
	e := shared.NewBaseEventWithMetadata("e", "order.created", map[string]int{"n": 1}, awkwardMetadata)
	msg, err := amqp.EventEncoding{}.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range msg.Headers {
		name, ok := strings.CutPrefix(k, amqp.PrefixUnderscore)
		if !ok || !attributeName.MatchString(name) {
			t.Errorf("header %q is not a cloudEvents_ attribute with a valid name", k)
		}
		if s, _ := v.(string); s == "" {
			t.Errorf("header %q has an empty or non-string value %#v", k, v)
		}
	}
	structured, err := amqp.EventEncoding{Mode: amqp.Structured}.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(structured.Body, &obj); err != nil {
		t.Fatal(err)
	}
	for k := range obj {
		if k != "data_base64" && !attributeName.MatchString(k) {
			t.Errorf("structured attribute %q has an invalid name", k)
		}
	}
	if structured.ContentType != amqp.ContentTypeCloudEventsJSON || structured.Headers != nil {
		t.Errorf("structured message: content-type %q, headers %v", structured.ContentType, structured.Headers)
	}
}

func TestEventWithoutDataHasNoBodyAndNoContentType(t *testing.T) {
	msg, err := amqp.EventEncoding{}.Encode(shared.NewBaseEvent("e", "ping", nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Body) != 0 || msg.ContentType != "" {
		t.Fatalf("body %q, content-type %q", msg.Body, msg.ContentType)
	}
	e, err := amqp.EventEncoding{}.Decode(delivery(msg))
	if err != nil || e.Data() != nil {
		t.Fatalf("decoded %v, %v", e, err)
	}
}

func TestEventEncodingDecodesForeignStructuredEvents(t *testing.T) {
	reg := codec.NewRegistry()
	if err := codec.Register[orderPlaced](reg, "shop.order-placed"); err != nil {
		t.Fatal(err)
	}
	body := `{"specversion":"1.0","id":"js-1","type":"order.created","source":"/node",
		"time":"2025-01-02T03:04:05.678Z","subject":"o-1","datacontenttype":"application/json",
		"novadatatype":"shop.order-placed","tenant":"acme","sampled":true,"priority":5,
		"novametadata":"{\"customer_id\":\"c-7\",\"Trace-ID\":\"t\"}",
		"data":{"order_id":"o-1","amount":9.5}}`
	e, err := amqp.EventEncoding{Registry: reg}.Decode(&amqp.Delivery{
		ContentType: "application/cloudevents+json; charset=utf-8", Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"source": "/node", "subject": "o-1", "tenant": "acme", "sampled": "true",
		"priority": "5", "customer_id": "c-7", "Trace-ID": "t"}
	if e.ID() != "js-1" || e.Data() != (orderPlaced{OrderID: "o-1", Amount: 9.5}) || !maps.Equal(e.Metadata(), want) {
		t.Fatalf("decoded %s %#v %q", e.ID(), e.Data(), e.Metadata())
	}
	text, err := amqp.EventEncoding{}.Decode(&amqp.Delivery{ContentType: amqp.ContentTypeCloudEventsJSON,
		Body: []byte(`{"specversion":"1.0","id":"t","type":"note","source":"/x","datacontenttype":"text/plain","data":"hi"}`)})
	if err != nil || string(text.Data().([]byte)) != "hi" {
		t.Fatalf("text data: %#v, %v", text, err)
	}
	b64, err := amqp.EventEncoding{}.Decode(&amqp.Delivery{ContentType: amqp.ContentTypeCloudEventsJSON,
		Body: []byte(`{"specversion":"1.0","id":"b","type":"blob","source":"/x","datacontenttype":"application/octet-stream","data_base64":"AAEC"}`)})
	if err != nil || string(b64.Data().([]byte)) != "\x00\x01\x02" {
		t.Fatalf("base64 data: %#v, %v", b64, err)
	}
}

func TestEventEncodingRefusesWhatNovaWouldRefuse(t *testing.T) {
	for name, d := range map[string]*amqp.Delivery{
		"a wildcard type":      {Headers: amqp.Table{"cloudEvents_id": "e", "cloudEvents_type": "order.*"}},
		"an empty type token":  {Headers: amqp.Table{"cloudEvents_id": "e", "cloudEvents_type": "a..b"}},
		"a tail wildcard":      {Headers: amqp.Table{"cloudEvents_id": "e", "cloudEvents_type": ">"}},
		"structured wildcard":  {ContentType: amqp.ContentTypeCloudEventsJSON, Body: []byte(`{"id":"e","type":"a.*"}`)},
		"structured non-JSON":  {ContentType: amqp.ContentTypeCloudEventsJSON, Body: []byte(`nope`)},
		"structured array":     {ContentType: amqp.ContentTypeCloudEventsJSON, Body: []byte(`[1]`)},
		"batch format":         {ContentType: "application/cloudevents-batch+json", Body: []byte(`[]`)},
		"bad packed metadata":  {Headers: amqp.Table{"cloudEvents_id": "e", "cloudEvents_type": "t", "cloudEvents_novametadata": "{"}},
		"no attributes at all": {Body: []byte("hi")},
	} {
		if _, err := (amqp.EventEncoding{}).Decode(d); !errors.Is(err, amqp.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestEventEncodingRefusesAnUnknownPrefixOrMode(t *testing.T) {
	e := shared.NewBaseEvent("e", "t", nil)
	for _, enc := range []amqp.EventEncoding{{Prefix: "ce-"}, {Mode: 7}} {
		if _, err := enc.Encode(e); !errors.Is(err, amqp.ErrInvalidConfig) {
			t.Errorf("%+v: got %v", enc, err)
		}
	}
}

func TestFormatValueWritesInvalidUTF8AsHex(t *testing.T) {
	if got := amqp.FormatValue([]byte{0xff, 0x00, 0x41}); got != "ff0041" {
		t.Fatalf("got %q", got)
	}
	if got := amqp.FormatValue([]byte("text")); got != "text" {
		t.Fatalf("got %q", got)
	}
}
