package codec

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// Codec serialises payloads. Implementations must be safe for concurrent use.
type Codec interface {
	// ContentType is the MIME type written next to the bytes, such as
	// "application/json".
	ContentType() string
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into the value v points to.
	Unmarshal(data []byte, v any) error
}

type jsonCodec struct{}

func (jsonCodec) ContentType() string                { return "application/json" }
func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// JSON is the default codec, backed by encoding/json.
var JSON Codec = jsonCodec{}

// Errors returned by this package.
var (
	// ErrDecode is matched by every *DecodeError.
	ErrDecode = errors.New("codec: cannot decode payload")
	// ErrEncode is matched by errors from Encode.
	ErrEncode = errors.New("codec: cannot encode payload")
	// ErrConflict is returned by Register when a name or type is already
	// registered differently.
	ErrConflict = errors.New("codec: conflicting registration")
	// ErrInvalidRegistration is returned by Register for an empty name, a
	// nil type or a nil *Registry.
	ErrInvalidRegistration = errors.New("codec: invalid registration")
)

// DecodeError says which named payload could not be decoded, and why.
type DecodeError struct {
	TypeName string
	Err      error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("codec: cannot decode payload of type %q: %v", e.TypeName, e.Err)
}

// Unwrap returns the codec's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is matches ErrDecode.
func (e *DecodeError) Is(target error) bool { return target == ErrDecode }

// Registry maps names to Go types. The zero value is an empty registry,
// ready to use; NewRegistry returns one too. A nil *Registry knows no names:
// Encode and Decode work without them and Register refuses.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]reflect.Type
	byType map[reflect.Type]string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]reflect.Type{}, byType: map[reflect.Type]string{}}
}

// Register records that payloads named name are of type T. Registering the
// same pair twice is fine; reusing a name for another type, or a type under
// another name, returns ErrConflict; an empty name or a nil r returns
// ErrInvalidRegistration. T may be a struct or a pointer to one; Decode
// returns the same shape.
func Register[T any](r *Registry, name string) error {
	return r.RegisterType(name, reflect.TypeFor[T]())
}

// RegisterType is Register for a reflect.Type known only at run time.
func (r *Registry) RegisterType(name string, t reflect.Type) error {
	switch {
	case r == nil:
		return fmt.Errorf("%w: nil registry", ErrInvalidRegistration)
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidRegistration)
	case t == nil:
		return fmt.Errorf("%w: nil type for %q", ErrInvalidRegistration, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byName == nil { // a zero Registry
		r.byName = map[string]reflect.Type{}
		r.byType = map[reflect.Type]string{}
	}
	if old, ok := r.byName[name]; ok && old != t {
		return fmt.Errorf("%w: %q is %v, not %v", ErrConflict, name, old, t)
	}
	if old, ok := r.byType[t]; ok && old != name {
		return fmt.Errorf("%w: %v is registered as %q, not %q", ErrConflict, t, old, name)
	}
	r.byName[name] = t
	r.byType[t] = name
	return nil
}

// NameOf returns the registered name of v's type, or "".
func (r *Registry) NameOf(v any) string {
	if v == nil || r == nil {
		return ""
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byType[reflect.TypeOf(v)]
}

// Encode serialises v with c and returns the name its type is registered
// under ("" for an unregistered type). A nil r encodes without names.
func (r *Registry) Encode(c Codec, v any) (payload []byte, name string, err error) {
	if c == nil {
		c = JSON
	}
	payload, err = c.Marshal(v)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %T: %v", ErrEncode, v, err)
	}
	return payload, r.NameOf(v), nil
}

// Decode rebuilds a payload. If name is registered, the result has that
// type; otherwise it is the codec's generic form. An empty payload decodes to
// nil. Failures are *DecodeError.
func (r *Registry) Decode(c Codec, name string, payload []byte) (any, error) {
	if c == nil {
		c = JSON
	}
	if len(payload) == 0 {
		return nil, nil
	}
	var t reflect.Type
	if r != nil && name != "" {
		r.mu.RLock()
		t = r.byName[name]
		r.mu.RUnlock()
	}
	if t == nil {
		var v any
		if err := c.Unmarshal(payload, &v); err != nil {
			return nil, &DecodeError{TypeName: name, Err: err}
		}
		return v, nil
	}
	if t.Kind() == reflect.Pointer {
		p := reflect.New(t.Elem())
		if err := c.Unmarshal(payload, p.Interface()); err != nil {
			return nil, &DecodeError{TypeName: name, Err: err}
		}
		return p.Interface(), nil
	}
	p := reflect.New(t)
	if err := c.Unmarshal(payload, p.Interface()); err != nil {
		return nil, &DecodeError{TypeName: name, Err: err}
	}
	return p.Elem().Interface(), nil
}
