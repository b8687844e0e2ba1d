package crypto_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/internal/vectors"
)

// FuzzOpen opens arbitrary values for arbitrary names: never a panic, only
// ErrInvalid, and anything accepted re-seals (same key, same nonce) to the
// very same text: the encoding is not malleable.
func FuzzOpen(f *testing.F) {
	var ring *crypto.Ring
	for _, v := range vectors.MustLoad(f) {
		if ring == nil {
			r, err := v.Ring()
			if err != nil {
				f.Fatal(err)
			}
			ring = r
		}
		f.Add(v.Header["name"], v.Joined(), v.Int("now"))
		if _, val, ok := strings.Cut(v.Cookie, "="); ok {
			f.Add(v.Header["name"], val, v.Int("now"))
		}
	}
	secrets := ringSecrets(f)
	// The same ring sealing version 2: it opens the same values, and its
	// stale says only that the second secret opened one.
	ringV2, err := crypto.New(secrets, crypto.WithCipher(crypto.AES256GCM))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, value string, now int64) {
		r := ring
		if crypto.CipherOf(value) == crypto.AES256GCM {
			r = ringV2
		}
		p, stale, err := r.Open(name, value, unix(now))
		if err != nil {
			if !errors.Is(err, crypto.ErrInvalid) {
				t.Fatalf("Open error %v is not ErrInvalid", err)
			}
			return
		}
		s := secrets[0]
		if stale {
			s = secrets[1]
		}
		// A padded value re-seals under one of the buckets its body's
		// length is a multiple of (the fuzzer cannot forge new ones: only
		// the seeds are padded).
		buckets := []int{0}
		if env, _, _ := r.Inspect(name, value, unix(now)); env.Padded {
			buckets = buckets[:0]
			for b := 16; b <= crypto.MaxPadding; b++ {
				buckets = append(buckets, b)
			}
		}
		var again string
		for _, b := range buckets {
			one, err := crypto.New([][]byte{s}, crypto.WithCipher(crypto.CipherOf(value)), crypto.WithPadding(b),
				crypto.WithCompressionThreshold(compressionOf(t, name, value, p)))
			if err != nil {
				t.Fatal(err)
			}
			one.SetRandForTest(bytes.NewReader(crypto.NonceOf(value)))
			if again, err = one.Seal(name, p); err != nil {
				t.Fatal(err)
			}
			if again == value {
				return
			}
		}
		t.Fatalf("accepted %q, which re-seals as %q", value, again)
	})
}

// compressionOf returns the threshold that makes Seal choose what the value
// chose: compressed values came from the default threshold (the fuzzer
// cannot forge new ones), raw ones re-seal with compression off.
func compressionOf(t *testing.T, name, value string, p crypto.Payload) int {
	raw, err := crypto.New([][]byte{bytes.Repeat([]byte{1}, 32)}, crypto.WithCipher(crypto.CipherOf(value)), crypto.WithCompressionThreshold(0))
	if err != nil {
		t.Fatal(err)
	}
	v, err := raw.Seal(name, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) == len(value) {
		return 0
	}
	return crypto.DefaultCompressionThreshold
}

// ringSecrets are the secrets of the first vector's ring, the one FuzzOpen uses.
func ringSecrets(f *testing.F) [][]byte {
	v := vectors.MustLoad(f)[0]
	var out [][]byte
	for _, h := range strings.Split(v.Header["secrets"], ",") {
		b, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzVerify verifies arbitrary signed values: never a panic, only
// ErrInvalid, and whatever verifies is exactly what Sign produces.
func FuzzVerify(f *testing.F) {
	r := mustRing(f, [][]byte{secret(1), secret(2)})
	old := mustRing(f, [][]byte{secret(2)})
	for _, id := range []string{"abc", "0123456789abcdefghijABCDEFGHIJ-_0123456789abc", "Zm9v"} {
		s, _ := r.Sign("sid", id)
		f.Add("sid", s)
		s, _ = old.Sign("sid", id)
		f.Add("sid", s)
	}
	f.Fuzz(func(t *testing.T, name, signed string) {
		payload, stale, err := r.Verify(name, signed)
		if err != nil {
			if !errors.Is(err, crypto.ErrInvalid) {
				t.Fatalf("Verify error %v is not ErrInvalid", err)
			}
			return
		}
		signer := r
		if stale {
			signer = old
		}
		again, err := signer.Sign(name, payload)
		if err != nil || again != signed {
			t.Fatalf("verified %q, which signs as %q (%v)", signed, again, err)
		}
	})
}
