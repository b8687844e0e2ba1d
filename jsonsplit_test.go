package session

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/crumbs-go/session/internal/fixtures"
)

func TestSplitObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{`{}`, true},
		{` { } `, true},
		{`{"a":1}`, true},
		{`{"a":{"b":[1,{"c":"]}"}]},"d":"x\"y","e\u00e9":null,"f\\":true}`, true},
		{`{"a" : [ 1 , 2 ] , "b" : "s" }`, true},
		{`[]`, false},
		{`{"a":}`, false},
		{`{"a":1,}`, false},
		{`{"a":[1}`, false},
		{`{"a":{]}`, false},
		{`{"a":"open}`, false},
		{`{"a"1}`, false},
		{`{a:1}`, false},
		{`{"a":1`, false},
		{``, false},
	}
	for _, tt := range tests {
		m, err := splitObject([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("splitObject(%s) = %v, want ok %t", tt.in, err, tt.ok)
			continue
		}
		if tt.ok {
			agree(t, []byte(tt.in), m)
		}
	}
}

// agree checks m against encoding/json's reading of data.
func agree(t *testing.T, data []byte, m map[string][]byte) {
	t.Helper()
	var want map[string]json.RawMessage
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("json.Unmarshal(%q): %v", data, err)
	}
	if len(want) != len(m) {
		t.Fatalf("%q: %d members, encoding/json finds %d", data, len(m), len(want))
	}
	for k, v := range want {
		if !bytes.Equal(bytes.TrimSpace(v), m[k]) {
			t.Fatalf("%q: member %q = %q, encoding/json says %q", data, k, m[k], v)
		}
	}
}

// FuzzSplitObject: never a panic; on every input encoding/json accepts as an
// object without duplicate keys, the same members; and EncodeMap of the
// result reads back the same.
func FuzzSplitObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":{"b":[1,"]"]},"c\n":null}`, string(fixtures.Small), string(fixtures.Large)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := splitObject(data)
		var want map[string]json.RawMessage
		if json.Unmarshal(data, &want) != nil || want == nil {
			return // not an object for encoding/json; splitObject may say anything but panic
		}
		if err != nil {
			if hasDuplicateKey(data) {
				return
			}
			t.Fatalf("splitObject(%q) = %v, but encoding/json reads it", data, err)
		}
		if hasDuplicateKey(data) {
			return
		}
		agree(t, data, m)
		again, err := JSON.EncodeMap(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := splitObject(again)
		if err != nil {
			t.Fatalf("EncodeMap output %q does not split: %v", again, err)
		}
		agree(t, again, m2)
	})
}

// hasDuplicateKey reports whether the object repeats a top-level key (where
// encoding/json keeps the last and the splitter may too, or differ).
func hasDuplicateKey(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return false
		}
		key, _ := k.(string)
		if seen[key] {
			return true
		}
		seen[key] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

// BenchmarkSplitObject measures the splitter against what it replaces,
// encoding/json into a map of raw messages, on the SMALL and LARGE fixtures (internal/fixtures).
func BenchmarkSplitObject(b *testing.B) {
	for _, f := range []struct {
		name string
		data []byte
	}{{"SMALL", fixtures.Small}, {"LARGE", fixtures.Large}} {
		b.Run(f.name+"/splitObject", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := splitObject(f.data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(f.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(f.data, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
