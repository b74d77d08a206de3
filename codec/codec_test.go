package codec_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/novaevents/nova/codec"
)

type order struct {
	ID    string  `json:"id"`
	Total float64 `json:"total"`
}

func TestRoundTripKeepsRegisteredType(t *testing.T) {
	reg := codec.NewRegistry()
	if err := codec.Register[order](reg, "order"); err != nil {
		t.Fatal(err)
	}
	if err := codec.Register[*order](reg, "order-ptr"); err != nil {
		t.Fatal(err)
	}
	for _, in := range []any{order{ID: "o-1", Total: 9.5}, &order{ID: "o-2"}} {
		payload, name, err := reg.Encode(codec.JSON, in)
		if err != nil || name == "" {
			t.Fatalf("Encode(%v) = %q, %v", in, name, err)
		}
		out, err := reg.Decode(codec.JSON, name, payload)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out, in) {
			t.Errorf("round trip: got %#v, want %#v", out, in)
		}
	}
}

func TestUnregisteredDecodesGenerically(t *testing.T) {
	reg := codec.NewRegistry()
	payload, name, err := reg.Encode(codec.JSON, order{ID: "x"})
	if err != nil || name != "" {
		t.Fatalf("Encode = %q, %v", name, err)
	}
	out, err := reg.Decode(codec.JSON, "unknown", payload)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := out.(map[string]any); !ok || m["id"] != "x" {
		t.Errorf("got %#v", out)
	}
}

func TestBadPayloadIsDecodeError(t *testing.T) {
	reg := codec.NewRegistry()
	_ = codec.Register[order](reg, "order")
	_, err := reg.Decode(codec.JSON, "order", []byte(`{"id": 7`))
	var de *codec.DecodeError
	if !errors.Is(err, codec.ErrDecode) || !errors.As(err, &de) || de.TypeName != "order" {
		t.Fatalf("err = %v", err)
	}
}

func TestConflictingRegistration(t *testing.T) {
	reg := codec.NewRegistry()
	_ = codec.Register[order](reg, "order")
	if err := codec.Register[order](reg, "order"); err != nil {
		t.Errorf("same pair again: %v", err)
	}
	if err := codec.Register[string](reg, "order"); !errors.Is(err, codec.ErrConflict) {
		t.Errorf("name reuse: %v", err)
	}
	if err := codec.Register[order](reg, "other"); !errors.Is(err, codec.ErrConflict) {
		t.Errorf("type reuse: %v", err)
	}
}
