package codec_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
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

func TestBadRegistrationsAreRefusedWithErrInvalidRegistration(t *testing.T) {
	var nilRegistry *codec.Registry
	for name, register := range map[string]func() error{
		"an empty name":  func() error { return codec.Register[order](codec.NewRegistry(), "") },
		"a nil type":     func() error { return codec.NewRegistry().RegisterType("order", nil) },
		"a nil registry": func() error { return codec.Register[order](nilRegistry, "order") },
	} {
		t.Run(name, func(t *testing.T) {
			err := register()
			if !errors.Is(err, codec.ErrInvalidRegistration) || errors.Is(err, codec.ErrConflict) {
				t.Errorf("err = %v, want ErrInvalidRegistration (and not ErrConflict)", err)
			}
		})
	}
}

func TestAZeroRegistryIsUsable(t *testing.T) {
	var reg codec.Registry
	if err := codec.Register[order](&reg, "order"); err != nil {
		t.Fatal(err)
	}
	payload, name, err := reg.Encode(codec.JSON, order{ID: "o-1"})
	if err != nil || name != "order" {
		t.Fatalf("Encode = %q, %v", name, err)
	}
	out, err := reg.Decode(codec.JSON, name, payload)
	if err != nil || out != (order{ID: "o-1"}) {
		t.Errorf("Decode = %#v, %v", out, err)
	}
}

func TestANilRegistryEncodesAndDecodesWithoutNames(t *testing.T) {
	var reg *codec.Registry
	payload, name, err := reg.Encode(codec.JSON, order{ID: "o-1"})
	if err != nil || name != "" {
		t.Fatalf("Encode = %q, %v", name, err)
	}
	if reg.NameOf(order{}) != "" {
		t.Error("a nil registry knows a name")
	}
	out, err := reg.Decode(codec.JSON, "order", payload)
	if m, ok := out.(map[string]any); err != nil || !ok || m["id"] != "o-1" {
		t.Errorf("Decode = %#v, %v; want the generic form", out, err)
	}
}

func TestANilCodecMeansJSON(t *testing.T) {
	reg := codec.NewRegistry()
	_ = codec.Register[order](reg, "order")
	payload, name, err := reg.Encode(nil, order{ID: "o-1", Total: 2})
	if err != nil || string(payload) != `{"id":"o-1","total":2}` {
		t.Fatalf("Encode(nil codec) = %s, %v", payload, err)
	}
	out, err := reg.Decode(nil, name, payload)
	if err != nil || out != (order{ID: "o-1", Total: 2}) {
		t.Errorf("Decode(nil codec) = %#v, %v", out, err)
	}
}

func TestAnEmptyPayloadDecodesToNil(t *testing.T) {
	reg := codec.NewRegistry()
	_ = codec.Register[order](reg, "order")
	for _, payload := range [][]byte{nil, {}} {
		out, err := reg.Decode(codec.JSON, "order", payload)
		if out != nil || err != nil {
			t.Errorf("Decode(%q) = %#v, %v; want nil, nil", payload, out, err)
		}
	}
}

func TestUnencodableValuesAreErrEncode(t *testing.T) {
	reg := codec.NewRegistry()
	for name, v := range map[string]any{
		"a channel":  make(chan int),
		"a function": func() {},
		"NaN":        math.NaN(),
	} {
		t.Run(name, func(t *testing.T) {
			payload, _, err := reg.Encode(codec.JSON, v)
			if !errors.Is(err, codec.ErrEncode) || payload != nil {
				t.Errorf("Encode = %q, %v; want ErrEncode", payload, err)
			}
		})
	}
}

// A registry is used from many goroutines at once: registering, encoding
// and decoding race with each other under -race without tripping it.
func TestRegistryIsSafeForConcurrentUse(t *testing.T) {
	var reg codec.Registry
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				if err := codec.Register[order](&reg, "order"); err != nil {
					t.Error(err)
					return
				}
				_ = reg.RegisterType(fmt.Sprint("t", g, "-", i), reflect.TypeOf(struct{ N [1]int }{})) // conflicts after the first: fine
				payload, name, err := reg.Encode(codec.JSON, order{ID: "x"})
				if err == nil {
					_, err = reg.Decode(codec.JSON, name, payload)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
