package session

import (
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// A Codec encodes session values. Values travel as a map of encoded values,
// so that a request decodes only the values it reads and re-encodes only the
// values it changed.
//
// The default is JSON: interoperable, readable by other languages, and free
// of gob's "type not registered" errors. A Codec must be safe for
// concurrent use.
type Codec interface {
	// Marshal encodes one value.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes one encoded value into v, a non-nil pointer. It
	// must not modify data, and what it decodes must not alias data (a
	// []byte decoded is a copy): data may be shared with other requests,
	// as the in-memory server store hands every request the same stored
	// bytes. encoding/json and encoding/gob keep both rules.
	Unmarshal(data []byte, v any) error
	// EncodeMap encodes a map of encoded values. It must not keep m.
	EncodeMap(m map[string][]byte) ([]byte, error)
	// DecodeMap decodes what EncodeMap produced. The result may alias data,
	// which the caller does not modify afterwards.
	DecodeMap(data []byte) (map[string][]byte, error)
}

// JSON is the default Codec: a JSON object whose members are the values,
// keys in sorted order.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

func (jsonCodec) EncodeMap(m map[string][]byte) ([]byte, error) {
	size := 2
	keys := make([]string, 0, len(m))
	for k, v := range m {
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = append(b, m[k]...)
	}
	return append(b, '}'), nil
}

// encodedSize is len(EncodeMap(m)), counted without encoding for the JSON
// codec: a server store's record size, for the metrics.
func encodedSize(c Codec, m map[string][]byte) (int, error) {
	if _, ok := c.(jsonCodec); !ok {
		data, err := c.EncodeMap(m)
		return len(data), err
	}
	size := 2 + max(len(m)-1, 0) // the braces and the commas
	for k, v := range m {
		size += jsonStringLen(k) + 1 + len(v)
	}
	return size, nil
}

// escaped reports whether encoding/json writes c other than as itself.
func escaped(c byte) bool {
	return c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&'
}

// jsonStringLen is len(appendJSONString(nil, s)).
func jsonStringLen(s string) int {
	for i := 0; i < len(s); i++ {
		if escaped(s[i]) {
			return len(appendJSONString(nil, s))
		}
	}
	return len(s) + 2
}

// DecodeMap splits the object into members without decoding them: a value
// is decoded only when a handler reads it.
func (jsonCodec) DecodeMap(data []byte) (map[string][]byte, error) {
	return splitObject(data)
}

// appendJSONString appends s as a JSON string; plain ASCII takes a fast path.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if escaped(s[i]) {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
