package codec_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/novaevents/nova/codec"
)

type fuzzOrder struct {
	ID    string            `json:"id"`
	Items []int             `json:"items"`
	Tags  map[string]string `json:"tags"`
	Next  *fuzzOrder        `json:"next"`
}

// FuzzRegistryDecode decodes arbitrary bytes under registered (struct and
// pointer) and unknown names: every failure is a *DecodeError, and whatever
// decodes encodes and decodes again to the same value.
func FuzzRegistryDecode(f *testing.F) {
	reg := codec.NewRegistry()
	if err := codec.Register[fuzzOrder](reg, "order"); err != nil {
		f.Fatal(err)
	}
	if err := codec.Register[*fuzzOrder](reg, "order-ptr"); err != nil {
		f.Fatal(err)
	}
	f.Add("order", []byte(`{"id":"o-1","items":[1,2],"tags":{"a":"b"},"next":{"id":"o-2"}}`))
	f.Add("order-ptr", []byte(`null`))
	f.Add("unknown", []byte(`[1,"x",{"y":null}]`))
	f.Add("order", []byte(`{"items":"nope"}`))
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		v, err := reg.Decode(codec.JSON, name, payload)
		if err != nil {
			if !errors.Is(err, codec.ErrDecode) {
				t.Fatalf("error %v does not match ErrDecode", err)
			}
			return
		}
		if v == nil {
			return
		}
		again, gotName, err := reg.Encode(codec.JSON, v)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", v, err)
		}
		if gotName == "" {
			gotName = name
		}
		w, err := reg.Decode(codec.JSON, gotName, again)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", again, err)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("round trip changed %#v into %#v", v, w)
		}
	})
}
