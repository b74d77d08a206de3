// Package codec turns event payloads into bytes and back, so that an event
// written by the store or sent over a broker comes back with Data of the Go
// type it had.
//
// A Codec serialises (JSON by default). A Registry remembers which Go type
// belongs to which name; Encode reports the name of a registered payload's
// type, and Decode uses that name to rebuild a value of the same type. A name
// that is not registered decodes to the codec's generic form (for JSON:
// map[string]any, []any, string, float64, bool or nil), so readers that know
// nothing of the writer's types still get the data.
//
//	reg := codec.NewRegistry()
//	codec.Register[OrderPlaced](reg, "order.placed")
//	payload, name, err := reg.Encode(codec.JSON, OrderPlaced{ID: "o-1"})
//	v, err := reg.Decode(codec.JSON, name, payload) // v is OrderPlaced
//
// A Registry is safe for concurrent use; Register is usually called at start-up.
package codec
