package crypto_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/internal/vectors"
)

func TestVectors(t *testing.T) {
	t.Parallel()
	vs := vectors.MustLoad(t)
	if len(vs) < 25 {
		t.Fatalf("%d vectors, want at least 25", len(vs))
	}
	counts := map[string]int{}
	for _, v := range vs {
		counts[v.Header["expect"]]++
		t.Run(v.File, func(t *testing.T) {
			t.Parallel()
			p, rotated, err := v.Open()
			switch want := v.Header["expect"]; want {
			case "ok":
				if err != nil {
					t.Fatalf("Open = %v, want ok (%s)", err, v.Header["comment"])
				}
				if string(p.Data) != v.Header["data"] {
					t.Errorf("data = %.60q…, want %.60q…", p.Data, v.Header["data"])
				}
				checkTime(t, "issued", p.IssuedAt, v.Int("issued"))
				checkTime(t, "absolute", p.Expires, v.Int("absolute"))
				checkTime(t, "idle", p.IdleExpires, v.Int("idle"))
				if got := rotated; (v.Header["rotated"] == "true") != got {
					t.Errorf("rotated = %t, want %s", got, v.Header["rotated"])
				}
				// Opening twice gives the same result: nothing was mutated.
				p2, _, err := v.Open()
				if err != nil || !bytes.Equal(p2.Data, p.Data) {
					t.Errorf("second Open = %v, differs from the first", err)
				}
				resealMatches(t, v, p)
			case "invalid":
				if !errors.Is(err, crypto.ErrInvalid) {
					t.Fatalf("Open = %v, want ErrInvalid (%s)", err, v.Header["comment"])
				}
			case "none":
				if !errors.Is(err, chunking.ErrNotFound) {
					t.Fatalf("Open = %v, want ErrNotFound", err)
				}
			default:
				t.Fatalf("unknown expect %q", want)
			}
		})
	}
	for _, e := range []string{"ok", "invalid", "none"} {
		if counts[e] == 0 {
			t.Errorf("no vector expects %s", e)
		}
	}
}

func checkTime(t *testing.T, what string, got time.Time, want int64) {
	t.Helper()
	if want == 0 {
		if !got.IsZero() {
			t.Errorf("%s = %v, want none", what, got)
		}
		return
	}
	if got.Unix() != want {
		t.Errorf("%s = %d, want %d", what, got.Unix(), want)
	}
}

// resealMatches seals the opened payload with the library, under the secret
// that opened it and with the vector's nonce, and requires the very bytes of
// the vector: the generator is an independent implementation of the spec.
func resealMatches(t *testing.T, v vectors.Vector, p crypto.Payload) {
	t.Helper()
	value := v.Joined()
	secrets := strings.Split(v.Header["secrets"], ",")
	secret := secrets[0]
	if v.Header["rotated"] == "true" {
		secret = secrets[1]
	}
	s, _ := hex.DecodeString(secret)
	opts := []crypto.Option{crypto.WithCipher(crypto.CipherOf(value))}
	if _, ok := v.Header["padding"]; ok {
		opts = append(opts, crypto.WithPadding(int(v.Int("padding"))))
	}
	ring, err := crypto.New([][]byte{s}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ring.SetRandForTest(bytes.NewReader(crypto.NonceOf(value)))
	got, err := ring.Seal(v.Header["name"], p)
	if err != nil {
		t.Fatal(err)
	}
	if got != value {
		t.Errorf("Seal reproduces %d characters, differing from the vector's %d", len(got), len(value))
	}
	codec, err := v.Codec()
	if err != nil {
		t.Fatal(err)
	}
	cookies, err := codec.Split(got)
	if err != nil {
		t.Fatal(err)
	}
	joined, err := codec.Join(func(yield func(string, string) bool) {
		for _, c := range cookies {
			if !yield(c.Name, c.Value) {
				return
			}
		}
	})
	if err != nil || joined != value {
		t.Errorf("Split then Join = %v, does not give back the value", err)
	}
}

// TestVectorBitFlips flips every bit of every session cookie (name, '=' and
// value) in every valid vector: each flip must be rejected.
func TestVectorBitFlips(t *testing.T) {
	t.Parallel()
	for _, v := range vectors.MustLoad(t) {
		if v.Header["expect"] != "ok" || strings.HasSuffix(v.File, "_ignored") {
			continue // the _ignored vectors repeat ok_chunks_3_compressed and ok_single_raw plus a cookie that is never read
		}
		t.Run(v.File, func(t *testing.T) {
			t.Parallel()
			recv, err := v.Receiver()
			if err != nil {
				t.Fatal(err)
			}
			codec := recv.Codec
			h := []byte(v.Cookie)
			// Chunk cookies beyond the count the base declares are ignored
			// (spec §6.1): flipping them changes nothing.
			count := 1
			for part := range strings.SplitSeq(v.Cookie, ";") {
				name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
				if n, _, ok := strings.Cut(value, "."); ok && name == codec.Name() {
					count, _ = strconv.Atoi(n)
				}
			}
			flips := 0
			off := 0
			for part := range strings.SplitSeq(v.Cookie, ";") {
				start := off + len(part) - len(strings.TrimLeft(part, " "))
				end := off + len(part)
				off = end + 1
				name, _, _ := strings.Cut(strings.TrimLeft(part, " "), "=")
				if name != codec.Name() && !strings.HasPrefix(name, codec.Name()+".") {
					continue
				}
				if strings.HasPrefix(name, codec.Name()+".") && !isDigits(name[len(codec.Name())+1:]) {
					continue // someone else's cookie that merely resembles a chunk
				}
				if i, err := strconv.Atoi(strings.TrimPrefix(name, codec.Name()+".")); err == nil && name != codec.Name() && i >= count {
					continue
				}
				for i := start; i < end; i++ {
					for bit := range 8 {
						h[i] ^= 1 << bit
						_, _, err := recv.Open(string(h))
						h[i] ^= 1 << bit
						flips++
						if err == nil {
							t.Fatalf("flipping bit %d of byte %d (%q) was accepted", bit, i, v.Cookie[i])
						}
						if !errors.Is(err, crypto.ErrInvalid) && !errors.Is(err, chunking.ErrNotFound) {
							t.Fatalf("flip at %d.%d: error %v is neither invalid nor not found", i, bit, err)
						}
					}
				}
			}
			if flips < 8*100 {
				t.Fatalf("only %d flips tried", flips)
			}
		})
	}
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
