package amqp

import (
	"context"
	"mime"
	"strings"
	"time"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
)

// CloudEvents AMQP binding, binary content mode: context attributes travel
// as application properties (AMQP 0-9-1 headers) named "cloudEvents:<attr>",
// the payload is the body and its media type the content-type property.
const (
	cePrefix       = "cloudEvents:"
	ceLegacyPrefix = "cloudEvents_" // accepted on input, from older bindings
	ceSpecVersion  = "1.0"
	// ceDataType names the payload's registered Go type (an extension
	// attribute) so Go consumers rebuild the same type.
	ceDataType = "novadatatype"
	// metaPrefix carries metadata whose key collides with a CloudEvents
	// context attribute Nova sets itself.
	metaPrefix = "x-nova-metadata:"
)

// reserved are attributes Nova writes from the event itself; metadata with
// these keys travels under metaPrefix instead.
var reserved = map[string]bool{
	"id": true, "type": true, "time": true, "specversion": true, "source": false,
	"datacontenttype": true, "data": true, "data_base64": true, ceDataType: true,
}

// EventEncoding maps shared.Event values to messages and back following the
// CloudEvents AMQP binding in binary content mode, so consumers in any
// language can read them. The zero value encodes payloads as JSON.
//
// On the wire: headers cloudEvents:specversion ("1.0"), cloudEvents:id,
// cloudEvents:type, cloudEvents:source, cloudEvents:time (RFC 3339),
// cloudEvents:novadatatype (the payload's registered name, when it has one)
// and one cloudEvents:<key> per metadata entry; the encoded payload in the
// body; the codec's media type in content-type. The AMQP message-id, type
// and timestamp properties repeat the event's ID, type and time. A
// mandatory publish (of an event or any message) also carries
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
}

func (ee EventEncoding) withDefaults() EventEncoding {
	if ee.Codec == nil {
		ee.Codec = codec.JSON
	}
	if ee.Source == "" {
		ee.Source = DefaultEventSource
	}
	return ee
}

// Encode turns e into a message routed by its type. It fails with an error
// matching shared.ErrInvalidEvent for a nil event or one without ID or
// type, and codec.ErrEncode when the payload cannot be encoded.
func (ee EventEncoding) Encode(e shared.Event) (Message, error) {
	if err := shared.Validate(e); err != nil {
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
	meta := e.Metadata()
	h := make(Table, 5+len(meta))
	h[cePrefix+"specversion"] = ceSpecVersion
	h[cePrefix+"id"] = e.ID()
	h[cePrefix+"type"] = e.Type()
	h[cePrefix+"source"] = ee.Source
	if ts := e.Timestamp(); !ts.IsZero() {
		h[cePrefix+"time"] = ts.UTC().Format(time.RFC3339Nano)
	}
	if name != "" {
		h[cePrefix+ceDataType] = name
	}
	for k, v := range meta {
		switch {
		case k == "source":
			h[cePrefix+"source"] = v
		case reserved[k]:
			h[metaPrefix+k] = v
		default:
			h[cePrefix+k] = v
		}
	}
	return Message{
		RoutingKey:  e.Type(),
		Body:        body,
		ContentType: ee.Codec.ContentType(),
		Headers:     h,
		MessageID:   e.ID(),
		Type:        e.Type(),
		Timestamp:   e.Timestamp(),
	}, nil
}

// Decode rebuilds the event carried by d. Anything that makes it unusable
// (no id or type, an unknown spec version, a bad time, a body the codec
// cannot read) is a *MalformedError naming the field. Header values of any
// AMQP type are accepted and turned into metadata strings with FormatValue.
func (ee EventEncoding) Decode(d *Delivery) (shared.Event, error) {
	if d == nil {
		return nil, &MalformedError{Field: "delivery", Reason: "nil delivery"}
	}
	ee = ee.withDefaults()
	attr := func(name string) (any, bool) {
		if v, ok := d.Headers[cePrefix+name]; ok {
			return v, true
		}
		v, ok := d.Headers[ceLegacyPrefix+name]
		return v, ok
	}
	if v, ok := attr("specversion"); ok {
		if s := FormatValue(v); !strings.HasPrefix(s, "1.") && s != "1" {
			return nil, &MalformedError{Field: cePrefix + "specversion", Reason: "unsupported CloudEvents version " + s}
		}
	}
	id, err := requiredString(attr, "id")
	if err != nil {
		return nil, err
	}
	typ, err := requiredString(attr, "type")
	if err != nil {
		return nil, err
	}
	ts := d.Timestamp
	if v, ok := attr("time"); ok {
		switch x := v.(type) {
		case time.Time:
			ts = x
		case string:
			if ts, err = time.Parse(time.RFC3339Nano, x); err != nil {
				return nil, &MalformedError{Field: cePrefix + "time", Reason: "not an RFC 3339 time", Err: err}
			}
		default:
			return nil, &MalformedError{Field: cePrefix + "time", Reason: "not a time or a string"}
		}
	}
	var meta map[string]string
	for k, v := range d.Headers {
		var key string
		switch {
		case strings.HasPrefix(k, cePrefix):
			key = k[len(cePrefix):]
		case strings.HasPrefix(k, ceLegacyPrefix):
			key = k[len(ceLegacyPrefix):]
		case strings.HasPrefix(k, metaPrefix):
			key = k[len(metaPrefix):]
		default:
			continue
		}
		if key == "" || (reserved[key] && !strings.HasPrefix(k, metaPrefix)) {
			continue
		}
		s := FormatValue(v)
		if key == "source" && s == ee.Source && !strings.HasPrefix(k, metaPrefix) {
			continue
		}
		if meta == nil {
			meta = make(map[string]string, 4)
		}
		meta[key] = s
	}
	data, err := ee.decodeData(d, attr, typ)
	if err != nil {
		return nil, err
	}
	return shared.NewBaseEventAt(id, typ, data, ts, meta), nil
}

func (ee EventEncoding) decodeData(d *Delivery, attr func(string) (any, bool), typ string) (any, error) {
	if len(d.Body) == 0 {
		return nil, nil
	}
	name := typ
	if v, ok := attr(ceDataType); ok {
		name = FormatValue(v)
	}
	c := ee.Codec
	if d.ContentType != "" {
		media, _, err := mime.ParseMediaType(d.ContentType)
		if err != nil {
			return nil, &MalformedError{Field: "content-type", Reason: "unparsable media type " + d.ContentType, Err: err}
		}
		if own, _, _ := mime.ParseMediaType(c.ContentType()); media != own {
			if media != "application/json" && !strings.HasSuffix(media, "+json") {
				// Not ours to decode: hand the bytes over as they are.
				return append([]byte(nil), d.Body...), nil
			}
			c = codec.JSON
		}
	}
	data, err := ee.Registry.Decode(c, name, d.Body)
	if err != nil {
		return nil, &MalformedError{Field: "body", Reason: "payload cannot be decoded as " + c.ContentType(), Err: err}
	}
	return data, nil
}

func requiredString(attr func(string) (any, bool), name string) (string, error) {
	v, ok := attr(name)
	if !ok {
		return "", &MalformedError{Field: cePrefix + name, Reason: "missing"}
	}
	s := FormatValue(v)
	if s == "" {
		return "", &MalformedError{Field: cePrefix + name, Reason: "empty"}
	}
	return s, nil
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
