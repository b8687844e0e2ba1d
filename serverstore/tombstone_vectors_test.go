package serverstore

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTombstoneVectors: testdata/tombstone-vectors (crypto/gen_vectors.go,
// from spec/server-id-v1.md §4.3): the tombstone a Regenerate writes, and
// what a reader takes from any value one holds.
func TestTombstoneVectors(t *testing.T) {
	dir := filepath.Join("..", "testdata", "tombstone-vectors")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 9 {
		t.Fatalf("%d tombstone vectors", len(entries))
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h, values := map[string]string{}, map[string][]byte{}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				line := sc.Text()
				if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, "value ") {
					h[k] = v
				} else if parts := strings.Fields(line); len(parts) == 3 && parts[0] == "value" {
					b, err := hex.DecodeString(parts[2])
					if err != nil {
						t.Fatal(err)
					}
					values[parts[1]] = b
				}
			}
			got := parseTombstone(h["value"])
			if got.key != h["key"] || got.marked != (h["marked"] == "true") {
				t.Fatalf("parseTombstone(%q) = %+v; want key %q, marked %s (%s)", h["value"], got, h["key"], h["marked"], h["comment"])
			}
			if !got.marked {
				return
			}
			ms, _ := strconv.ParseInt(h["at"], 10, 64)
			if !got.at.Equal(time.UnixMilli(ms)) || got.digest != h["digest"] {
				t.Fatalf("marked tombstone read as at %v digest %q; want %d, %q", got.at, got.digest, ms, h["digest"])
			}
			if d := valuesDigest(values); d != h["digest"] {
				t.Fatalf("valuesDigest = %q, want %q", d, h["digest"])
			}
			if v := tombstone(got.key, got.at, got.digest); v != h["value"] {
				t.Fatalf("tombstone() writes %q, want %q", v, h["value"])
			}
		})
	}
}
