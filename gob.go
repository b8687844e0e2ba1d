package session

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
)

// Gob is a Codec that keeps each value's Go type, for code that
// type-asserts what it reads back (session.Get returns the stored type;
// gorilla/sessions-style code does v.(User)). A value is gob-encoded as an
// interface, so its type must be registered with gob.Register, as for
// gorilla/sessions; basic types are registered already. Get[T] reads a
// value stored as T, or as another type of the same kind family that T
// holds exactly (an int stored, an int64 asked; not -1 as a uint, nor 300
// as an int8). Values are readable only by Go
// programs that register the same types: prefer JSON when another language
// reads the store.
var Gob Codec = gobCodec{}

type gobCodec struct{}

func (gobCodec) Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(&v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (gobCodec) Unmarshal(data []byte, v any) error {
	dst := reflect.ValueOf(v)
	if dst.Kind() != reflect.Pointer || dst.IsNil() {
		return fmt.Errorf("session: Gob.Unmarshal: give a non-nil pointer, not %T", v)
	}
	var x any
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&x); err != nil {
		return err
	}
	to := dst.Elem()
	if x == nil {
		to.SetZero()
		return nil
	}
	from := reflect.ValueOf(x)
	switch {
	case from.Type().AssignableTo(to.Type()):
		to.Set(from)
	case sameFamily(from.Kind(), to.Kind()) && from.Type().ConvertibleTo(to.Type()):
		v := from.Convert(to.Type())
		if !v.Convert(from.Type()).Equal(from) || signFlipped(from, v) {
			return fmt.Errorf("session: Gob: the stored %s %v does not fit a %s", from.Type(), x, to.Type())
		}
		to.Set(v)
	default:
		return fmt.Errorf("session: Gob: the stored value is a %s, not a %s", from.Type(), to.Type())
	}
	return nil
}

// signFlipped reports an integer conversion that changed the sign: -1 to
// a uint, or a uint above the largest int to an int.
func signFlipped(from, to reflect.Value) bool {
	neg := func(v reflect.Value) bool { return v.CanInt() && v.Int() < 0 }
	return neg(from) != neg(to)
}

// sameFamily reports whether a value of kind a converts to kind b without
// changing what it means: integers to integers, floats to floats, strings
// to strings.
func sameFamily(a, b reflect.Kind) bool {
	family := func(k reflect.Kind) int {
		switch {
		case k >= reflect.Int && k <= reflect.Uint64:
			return 1
		case k == reflect.Float32 || k == reflect.Float64:
			return 2
		case k == reflect.String:
			return 3
		}
		return 0
	}
	return family(a) != 0 && family(a) == family(b)
}

func (gobCodec) EncodeMap(m map[string][]byte) ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (gobCodec) DecodeMap(data []byte) (map[string][]byte, error) {
	m := map[string][]byte{}
	if len(data) == 0 {
		return m, nil
	}
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}
