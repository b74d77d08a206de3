package amqp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"mime"
	"strings"
	"time"

	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
)

// Decode rebuilds the event carried by d, in binary or structured mode
// (see EventEncoding). Anything that makes it unusable (no id or type, a
// type shared.Validate refuses, an unknown spec version, a bad time, a body
// the codec cannot read) is a *MalformedError naming the attribute. Header
// values of any AMQP type are accepted and turned into metadata strings
// with FormatValue.
func (ee EventEncoding) Decode(d *Delivery) (shared.Event, error) {
	if d == nil {
		return nil, &MalformedError{Field: "delivery", Reason: "nil delivery"}
	}
	ee = ee.withDefaults()
	media := ""
	if d.ContentType != "" {
		var err error
		if media, _, err = mime.ParseMediaType(d.ContentType); err != nil {
			return nil, &MalformedError{Field: "content-type", Reason: "unparsable media type " + d.ContentType, Err: err}
		}
	}
	switch {
	case media == ContentTypeCloudEventsJSON:
		return ee.decodeStructured(d.Body)
	case strings.HasPrefix(media, "application/cloudevents"):
		return nil, &MalformedError{Field: "content-type", Reason: "unsupported CloudEvents format " + media + " (Nova reads binary mode and " + ContentTypeCloudEventsJSON + ")"}
	}
	return ee.decodeBinary(d, media)
}

// attrs is one event's attributes, however they travelled.
type attrs struct {
	prefix string // for error messages: the header prefix, or "" in structured mode
	get    func(name string) (any, bool)
}

func (a attrs) field(name string) string { return a.prefix + name }

func (a attrs) required(name string) (string, error) {
	v, ok := a.get(name)
	if !ok {
		return "", &MalformedError{Field: a.field(name), Reason: "missing"}
	}
	s := FormatValue(v)
	if s == "" {
		return "", &MalformedError{Field: a.field(name), Reason: "empty"}
	}
	return s, nil
}

// context reads the attributes every event has: specversion, id, type and
// time (fallback when absent).
func (a attrs) context(fallback time.Time) (id, typ string, ts time.Time, err error) {
	if v, ok := a.get("specversion"); ok {
		if s := FormatValue(v); !strings.HasPrefix(s, "1.") && s != "1" {
			return "", "", ts, &MalformedError{Field: a.field("specversion"), Reason: "unsupported CloudEvents version " + s}
		}
	}
	if id, err = a.required("id"); err != nil {
		return "", "", ts, err
	}
	if typ, err = a.required("type"); err != nil {
		return "", "", ts, err
	}
	ts = fallback
	if v, ok := a.get("time"); ok {
		switch x := v.(type) {
		case time.Time:
			ts = x
		case string:
			if ts, err = time.Parse(time.RFC3339Nano, x); err != nil {
				return "", "", ts, &MalformedError{Field: a.field("time"), Reason: "not an RFC 3339 time", Err: err}
			}
		default:
			return "", "", ts, &MalformedError{Field: a.field("time"), Reason: "not a time or a string"}
		}
	}
	return id, typ, ts, nil
}

// metadata turns the extension attributes into metadata: each name/value
// from each (core attributes skipped), then the entries of novametadata.
func (ee EventEncoding) metadata(a attrs, each func(yield func(name string, v any))) (map[string]string, error) {
	var meta map[string]string
	put := func(k, v string) {
		if meta == nil {
			meta = make(map[string]string, 4)
		}
		meta[k] = v
	}
	var packed any
	var hasPacked bool
	each(func(name string, v any) {
		switch name {
		case "specversion", "id", "type", "time", "datacontenttype", "data", "data_base64", ceDataType, "":
		case ceMetadata:
			packed, hasPacked = v, true
		case "source":
			if s := FormatValue(v); s != ee.Source {
				put(name, s)
			}
		default:
			put(name, FormatValue(v))
		}
	})
	if hasPacked {
		var rest map[string]string
		if err := json.Unmarshal([]byte(FormatValue(packed)), &rest); err != nil {
			return nil, &MalformedError{Field: a.field(ceMetadata), Reason: "not a JSON object of strings", Err: err}
		}
		for k, v := range rest {
			put(k, v)
		}
	}
	return meta, nil
}

// valid checks the decoded event as the rest of Nova would.
func valid(a attrs, e shared.Event) (shared.Event, error) {
	if err := shared.Validate(e); err != nil {
		return nil, &MalformedError{Field: a.field("type"), Reason: "not a valid Nova event type", Err: err}
	}
	return e, nil
}

func (ee EventEncoding) decodeBinary(d *Delivery, media string) (shared.Event, error) {
	prefix := PrefixUnderscore
	if _, ok := d.Headers[PrefixUnderscore+"specversion"]; !ok {
		_, colonVersion := d.Headers[PrefixColon+"specversion"]
		_, underscoreID := d.Headers[PrefixUnderscore+"id"]
		if colonVersion || !underscoreID {
			prefix = PrefixColon
		}
	}
	a := attrs{prefix: prefix, get: func(name string) (any, bool) {
		v, ok := d.Headers[prefix+name]
		return v, ok
	}}
	if _, ok := a.get("id"); !ok {
		if _, ok := a.get("type"); !ok {
			return nil, &MalformedError{Field: "message", Reason: "not a CloudEvent: no cloudEvents_ or cloudEvents: attributes in the headers and content-type is not " + ContentTypeCloudEventsJSON}
		}
	}
	id, typ, ts, err := a.context(d.Timestamp)
	if err != nil {
		return nil, err
	}
	meta, err := ee.metadata(a, func(yield func(string, any)) {
		for k, v := range d.Headers {
			if strings.HasPrefix(k, prefix) {
				yield(k[len(prefix):], v)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if media == "" {
		if v, ok := a.get("datacontenttype"); ok {
			media, _, _ = mime.ParseMediaType(FormatValue(v))
		}
	}
	data, err := ee.decodeData(media, d.Body, dataTypeName(a, typ))
	if err != nil {
		return nil, err
	}
	return valid(a, shared.NewBaseEventAt(id, typ, data, ts, meta))
}

func dataTypeName(a attrs, typ string) string {
	if v, ok := a.get(ceDataType); ok {
		return FormatValue(v)
	}
	return typ
}

// decodeData decodes body of media type media: with the codec when it is
// the codec's type, as JSON when it is JSON of another kind, and as the
// bytes themselves otherwise. An empty body is no data.
func (ee EventEncoding) decodeData(media string, body []byte, name string) (any, error) {
	if len(body) == 0 {
		return nil, nil
	}
	c := ee.Codec
	if media != "" {
		if own, _, _ := mime.ParseMediaType(c.ContentType()); media != own {
			if !isJSON(media) {
				// Not ours to decode: hand the bytes over as they are.
				return append([]byte(nil), body...), nil
			}
			c = codec.JSON
		}
	}
	data, err := ee.Registry.Decode(c, name, body)
	if err != nil {
		return nil, &MalformedError{Field: "body", Reason: "payload cannot be decoded as " + c.ContentType(), Err: err}
	}
	return data, nil
}

func isJSON(media string) bool {
	return media == "application/json" || media == "text/json" || strings.HasSuffix(media, "+json")
}

// decodeStructured reads a structured-mode event: one JSON object.
func (ee EventEncoding) decodeStructured(body []byte) (shared.Event, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, &MalformedError{Field: "body", Reason: "structured CloudEvent is not a JSON object", Err: err}
	}
	if dec.More() {
		return nil, &MalformedError{Field: "body", Reason: "structured CloudEvent has data after its JSON object"}
	}
	var bad *MalformedError
	value := func(name string, raw json.RawMessage) (any, bool) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || string(raw) == "null" {
			return nil, false
		}
		if raw[0] == '"' {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil && bad == nil {
				bad = &MalformedError{Field: name, Reason: "not a JSON string", Err: err}
			}
			return s, true
		}
		return string(raw), true // numbers, booleans: their JSON text
	}
	a := attrs{get: func(name string) (any, bool) {
		raw, ok := obj[name]
		if !ok {
			return nil, false
		}
		return value(name, raw)
	}}
	id, typ, ts, err := a.context(time.Time{})
	if err == nil && bad != nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	meta, err := ee.metadata(a, func(yield func(string, any)) {
		for k, raw := range obj {
			if v, ok := value(k, raw); ok {
				yield(k, v)
			}
		}
	})
	if err == nil && bad != nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	media := "application/json" // the format's default for data
	if v, ok := a.get("datacontenttype"); ok {
		if media, _, err = mime.ParseMediaType(FormatValue(v)); err != nil {
			return nil, &MalformedError{Field: "datacontenttype", Reason: "unparsable media type", Err: err}
		}
	}
	var data any
	name := dataTypeName(a, typ)
	if raw, ok := obj["data_base64"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		var b []byte
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, &MalformedError{Field: "data_base64", Reason: "not base64 in a JSON string", Err: err}
		}
		if data, err = ee.decodeData(media, b, name); err != nil {
			return nil, err
		}
	} else if raw, ok := obj["data"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		if isJSON(media) {
			data, err = ee.Registry.Decode(codec.JSON, name, raw)
			if err != nil {
				return nil, &MalformedError{Field: "data", Reason: "payload cannot be decoded as JSON", Err: err}
			}
		} else {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				data = []byte(s) // text data travels as a JSON string
			} else {
				data = []byte(raw)
			}
		}
	}
	return valid(a, shared.NewBaseEventAt(id, typ, data, ts, meta))
}

// structured encodes e as one JSON object: its attributes, and its data as
// JSON when the codec writes JSON, in data_base64 otherwise.
func (ee EventEncoding) structured(e shared.Event, body []byte, dataType string) ([]byte, error) {
	obj := make(map[string]any, 8+len(e.Metadata()))
	ee.attributes(e, dataType, func(name, value string) { obj[name] = value })
	if body != nil {
		ct := ee.Codec.ContentType()
		obj["datacontenttype"] = ct
		if media, _, _ := mime.ParseMediaType(ct); isJSON(media) && json.Valid(body) {
			obj["data"] = json.RawMessage(body)
		} else {
			obj["data_base64"] = base64.StdEncoding.EncodeToString(body)
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, &MalformedError{Field: "body", Reason: "cannot encode structured CloudEvent", Err: err}
	}
	return out, nil
}

// marshalMetadata encodes the metadata entries carried in novametadata.
// Maps of strings always encode (keys sorted, so equal maps give equal
// text).
func marshalMetadata(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}
