package amqp

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
)

// CloudEvents AMQP binding: in binary content mode the context attributes
// travel as application properties (AMQP 0-9-1 headers) named
// "<prefix><attr>", the payload is the body and its media type the
// content-type property; in structured mode the whole event is a JSON
// object in the body, with content-type application/cloudevents+json.
const (
	// PrefixUnderscore is the header prefix the binding prefers, and the
	// one JMS clients need. Nova writes it by default.
	PrefixUnderscore = "cloudEvents_"
	// PrefixColon is the binding's other header prefix. Nova reads both.
	PrefixColon = "cloudEvents:"

	// ContentTypeCloudEventsJSON is the content-type of a structured-mode
	// CloudEvent.
	ContentTypeCloudEventsJSON = "application/cloudevents+json"

	ceSpecVersion = "1.0"
	// ceDataType names the payload's registered Go type (an extension
	// attribute) so Go consumers rebuild the same type.
	ceDataType = "novadatatype"
	// ceMetadata is the extension attribute that carries, as one JSON
	// object of strings, every metadata entry whose key cannot travel as an
	// attribute of its own (see EventEncoding).
	ceMetadata = "novametadata"
	// maxAttrName is the length attribute names SHOULD NOT exceed; some
	// SDKs refuse longer ones.
	maxAttrName = 20
)

// EventMode is how an event is laid out in a message.
type EventMode uint8

const (
	// Binary puts the attributes in headers and the payload, as encoded by
	// the codec, in the body. It is the default: any AMQP client reads the
	// payload as it is.
	Binary EventMode = iota
	// Structured puts the whole event in the body as one JSON object
	// (content-type application/cloudevents+json).
	Structured
)

func (m EventMode) String() string {
	switch m {
	case Binary:
		return "binary"
	case Structured:
		return "structured"
	}
	return fmt.Sprintf("EventMode(%d)", uint8(m))
}

// EventEncoding maps shared.Event values to messages and back following the
// CloudEvents 1.0 AMQP protocol binding, so that consumers and producers
// in any language (the official CloudEvents SDKs included) exchange events
// with Nova. The zero value writes binary mode with "cloudEvents_" headers
// and JSON payloads.
//
// Attributes written: specversion "1.0", id, type, source (Source, or the
// "source" metadata entry), time (RFC 3339, when the event has one),
// novadatatype (the payload's registered name, when it has one), subject
// (the "subject" metadata entry), and the other metadata entries as
// extension attributes. datacontenttype is the codec's media type; an event
// without data has no body and no content type. The AMQP message-id, type
// and timestamp properties repeat the event's ID, type and time.
//
// # Metadata keys
//
// CloudEvents attribute names are 1 to 20 lowercase ASCII letters and
// digits, and SDKs refuse events that break this. A metadata entry whose
// key is such a name (and is not one of the attributes above, nor
// dataschema, datacontenttype, data, data_base64 or novametadata), and
// whose value is not empty, travels as the extension attribute of that
// name: "customer" becomes cloudEvents_customer. Every other entry
// ("customer_id", "trace_id", "Trace-ID", "", a 21-letter key, an empty
// value, a "source" equal to Source) travels in the one extension
// attribute novametadata, a JSON object mapping keys to values:
//
//	cloudEvents_novametadata: {"Trace-ID":"t-1","customer_id":"c-7"}
//
// It is a plain string attribute, so an SDK that reads the event and sends
// it on (in either mode) carries it along untouched. Decoding merges both:
// every extension attribute except novadatatype and novametadata becomes a
// metadata entry, then the entries of novametadata are added. Metadata thus
// round-trips exactly between Nova processes, and a foreign producer can
// set any key, in either form.
//
// Decoding reads binary mode with either prefix (a message uses one; when
// both appear, the one that carries specversion, or else id, wins) and
// structured mode (content-type application/cloudevents+json, data as JSON
// or data_base64). The decoded event must pass shared.Validate; anything
// that makes it unusable is a *MalformedError naming the attribute.
//
// A mandatory publish (of an event or any message) also carries
// x-nova-publish-seq, an int64 the Publisher uses to match a message the
// broker returns with its receipt; receivers can ignore it. Retried and
// dead-lettered messages carry the x-nova-* headers listed with
// HeaderRetries.
type EventEncoding struct {
	// Codec serialises payloads. Default codec.JSON.
	Codec codec.Codec
	// Registry names payload types so they decode to the Go type they had.
	// Default nil: payloads decode to the codec's generic form.
	Registry *codec.Registry
	// Source is the CloudEvents source of events whose metadata has no
	// "source" entry; on decoding, a source equal to it is not copied into
	// the metadata. Default "nova".
	Source string
	// Mode is how Encode lays events out. Decode reads both. Default
	// Binary.
	Mode EventMode
	// Prefix is the header prefix Encode writes in binary mode:
	// PrefixUnderscore (the default) or PrefixColon. Decode reads both.
	Prefix string
}

func (ee EventEncoding) withDefaults() EventEncoding {
	if ee.Codec == nil {
		ee.Codec = codec.JSON
	}
	if ee.Source == "" {
		ee.Source = DefaultEventSource
	}
	if ee.Prefix == "" {
		ee.Prefix = PrefixUnderscore
	}
	return ee
}

// Validate reports an EventEncoding that cannot work: an unknown Mode or a
// Prefix other than the binding's two. It matches ErrInvalidConfig.
func (ee EventEncoding) Validate() error {
	switch {
	case ee.Mode > Structured:
		return configErrorf("EventEncoding", "unknown event mode %v", ee.Mode)
	case ee.Prefix != "" && ee.Prefix != PrefixUnderscore && ee.Prefix != PrefixColon:
		return configErrorf("EventEncoding", "event header prefix %q (want %q or %q)", ee.Prefix, PrefixUnderscore, PrefixColon)
	}
	return nil
}

// Encode turns e into a message routed by its type. It fails with an error
// matching shared.ErrInvalidEvent for a nil event or one without ID or
// with an invalid type, or whose ID, type or metadata are not valid UTF-8,
// codec.ErrEncode when the payload cannot be encoded,
// and ErrInvalidConfig for an invalid EventEncoding.
func (ee EventEncoding) Encode(e shared.Event) (Message, error) {
	if err := shared.Validate(e); err != nil {
		return Message{}, err
	}
	if err := ee.Validate(); err != nil {
		return Message{}, err
	}
	if err := textOnly(e); err != nil {
		return Message{}, err
	}
	ee = ee.withDefaults()
	var body []byte
	var name string
	if data := e.Data(); data != nil {
		var err error
		if body, name, err = ee.Registry.Encode(ee.Codec, data); err != nil {
			return Message{}, err
		}
	}
	msg := Message{
		RoutingKey: e.Type(),
		MessageID:  e.ID(),
		Type:       e.Type(),
		Timestamp:  e.Timestamp(),
	}
	var err error
	if ee.Mode == Structured {
		msg.Body, err = ee.structured(e, body, name)
		msg.ContentType = ContentTypeCloudEventsJSON
		return msg, err
	}
	msg.Headers = ee.binaryHeaders(e, name)
	if body != nil {
		msg.Body = body
		msg.ContentType = ee.Codec.ContentType()
	}
	return msg, nil
}

// textOnly refuses events whose ID, type or metadata are not valid UTF-8:
// CloudEvents attributes are Unicode strings, and JSON (structured mode,
// novametadata) cannot carry anything else unchanged.
func textOnly(e shared.Event) error {
	if !utf8.ValidString(e.ID()) || !utf8.ValidString(e.Type()) {
		return fmt.Errorf("%w: id or type is not valid UTF-8", shared.ErrInvalidEvent)
	}
	for k, v := range e.Metadata() {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("%w: metadata %q is not valid UTF-8", shared.ErrInvalidEvent, k)
		}
	}
	return nil
}

// attributes calls set for each attribute of e other than data, in the
// order written, with the attribute's value.
func (ee EventEncoding) attributes(e shared.Event, dataType string, set func(name, value string)) {
	meta := e.Metadata()
	set("specversion", ceSpecVersion)
	set("id", e.ID())
	set("type", e.Type())
	source := ee.Source
	if s, ok := meta["source"]; ok && s != "" && s != ee.Source {
		source = s
	}
	set("source", source)
	if ts := e.Timestamp(); !ts.IsZero() {
		set("time", ts.UTC().Format(time.RFC3339Nano))
	}
	if dataType != "" {
		set(ceDataType, dataType)
	}
	var rest map[string]string
	for k, v := range meta {
		switch {
		case k == "source" && v != "" && v != ee.Source:
			// written above
		case isExtensionName(k) && v != "":
			set(k, v)
		default:
			if rest == nil {
				rest = make(map[string]string, len(meta))
			}
			rest[k] = v
		}
	}
	if rest != nil {
		set(ceMetadata, marshalMetadata(rest))
	}
}

func (ee EventEncoding) binaryHeaders(e shared.Event, dataType string) Table {
	h := make(Table, 6+len(e.Metadata()))
	ee.attributes(e, dataType, func(name, value string) { h[ee.Prefix+name] = value })
	return h
}

// isExtensionName reports whether key can travel as an attribute of its
// own: a valid CloudEvents attribute name that Nova does not fill itself.
func isExtensionName(key string) bool {
	if len(key) == 0 || len(key) > maxAttrName {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	switch key {
	case "specversion", "id", "type", "source", "time", "datacontenttype", "dataschema",
		"data", ceDataType, ceMetadata:
		return false
	}
	return true
}

// PublishEvent publishes e to exchange with its type as routing key and
// waits for the confirm (see Publish).
func (p *Publisher) PublishEvent(ctx context.Context, exchange string, e shared.Event) error {
	r, err := p.PublishEventAsync(ctx, exchange, e)
	if err != nil {
		return err
	}
	return r.Wait(orBackground(ctx))
}

// PublishEventAsync is PublishEvent returning a receipt (see PublishAsync).
func (p *Publisher) PublishEventAsync(ctx context.Context, exchange string, e shared.Event) (*Receipt, error) {
	msg, err := p.events.Encode(e)
	if err != nil {
		p.metrics.EventEmitted(p.cfg.Name, typeOf(e), err)
		return nil, err
	}
	return p.PublishAsync(ctx, exchange, msg)
}

func typeOf(e shared.Event) string {
	if shared.IsNil(e) {
		return ""
	}
	return e.Type()
}

// EventHandler adapts a shared.Listener to a Handler: each delivery is
// decoded with enc and passed to l. A delivery that does not decode is
// rejected to the dead letter with its *MalformedError as the reason; the
// listener never sees it. The listener's error goes through the consumer's
// ErrorPolicy.
func EventHandler(enc EventEncoding, l shared.Listener) Handler {
	return HandlerFunc(func(ctx context.Context, d *Delivery) (AckDecision, error) {
		e, err := enc.Decode(d)
		if err != nil {
			return Reject, err
		}
		return DecideByError, l.Handle(ctx, e)
	})
}
