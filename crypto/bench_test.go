package crypto_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/internal/fixtures"
)

var benchSizes = []int{64, 1 << 10, 4 << 10, 16 << 10}

func benchData(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// BenchmarkSealOpen seals then opens, uncompressed, beside the floor: raw
// XChaCha20-Poly1305 with a random nonce and base64url on the same bytes.
func BenchmarkSealOpen(b *testing.B) {
	r := mustRing(b, [][]byte{secret(1)}, crypto.WithCompressionThreshold(0))
	key := make([]byte, 32)
	aead, _ := chacha20poly1305.NewX(key)
	enc := base64.RawURLEncoding
	for _, n := range benchSizes {
		data := benchData(n)
		b.Run(fmt.Sprintf("crumbs/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var p crypto.Payload
			for b.Loop() {
				v, err := r.Seal("s", crypto.Payload{Data: data, IssuedAt: t0})
				if err != nil {
					b.Fatal(err)
				}
				if p, _, err = r.Open("s", v, t0); err != nil {
					b.Fatal(err)
				}
			}
			if len(p.Data) != n {
				b.Fatalf("opened %d bytes, want %d", len(p.Data), n)
			}
		})
		b.Run(fmt.Sprintf("floor/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var out []byte
			for b.Loop() {
				nonce := make([]byte, 24, 24+n+16)
				rand.Read(nonce)
				v := enc.EncodeToString(aead.Seal(nonce, nonce, data, []byte("s")))
				raw, err := enc.DecodeString(v)
				if err != nil {
					b.Fatal(err)
				}
				if out, err = aead.Open(raw[24:24], raw[:24], raw[24:], []byte("s")); err != nil {
					b.Fatal(err)
				}
			}
			if len(out) != n {
				b.Fatalf("opened %d bytes, want %d", len(out), n)
			}
		})
	}
}

// BenchmarkSeal and BenchmarkOpen split the two halves, for allocations.
func BenchmarkSeal(b *testing.B) {
	r := mustRing(b, [][]byte{secret(1)}, crypto.WithCompressionThreshold(0))
	for _, n := range benchSizes {
		data := benchData(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var v string
			for b.Loop() {
				v, _ = r.Seal("s", crypto.Payload{Data: data, IssuedAt: t0})
			}
			if len(v) < n {
				b.Fatal("short value")
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	r := mustRing(b, [][]byte{secret(1)}, crypto.WithCompressionThreshold(0))
	for _, n := range benchSizes {
		v, _ := r.Seal("s", crypto.Payload{Data: benchData(n), IssuedAt: t0})
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var p crypto.Payload
			for b.Loop() {
				p, _, _ = r.Open("s", v, t0)
			}
			if len(p.Data) != n {
				b.Fatal("open failed")
			}
		})
	}
}

// BenchmarkSealOpenCompressed runs the default configuration on JSON.
func BenchmarkSealOpenCompressed(b *testing.B) {
	r := mustRing(b, [][]byte{secret(1)})
	for _, f := range jsonFixtures {
		b.Run(f.name, func(b *testing.B) {
			b.SetBytes(int64(len(f.data)))
			b.ReportAllocs()
			var p crypto.Payload
			for b.Loop() {
				v, _ := r.Seal("s", crypto.Payload{Data: f.data, IssuedAt: t0})
				p, _, _ = r.Open("s", v, t0)
			}
			if len(p.Data) != len(f.data) {
				b.Fatal("round trip failed")
			}
		})
	}
}

var jsonFixtures = []struct {
	name string
	data []byte
}{{"SMALL", fixtures.Small}, {"typical", fixtures.Typical}, {"LARGE", fixtures.Large}}

func compressors(tb testing.TB) map[string]func([]byte) []byte {
	zs := map[string]zstd.EncoderLevel{"zstd-fastest": zstd.SpeedFastest, "zstd-default": zstd.SpeedDefault}
	out := map[string]func([]byte) []byte{
		"s2":        func(b []byte) []byte { return s2.Encode(nil, b) },
		"s2-better": func(b []byte) []byte { return s2.EncodeBetter(nil, b) },
	}
	for name, level := range zs {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderCRC(false))
		if err != nil {
			tb.Fatal(err)
		}
		out[name] = func(b []byte) []byte { return e.EncodeAll(b, nil) }
	}
	return out
}

// TestCompressionRatios prints the sizes quoted in spec/cookie-v1.md §5 and
// checks the property the choice rests on.
func TestCompressionRatios(t *testing.T) {
	t.Parallel()
	c := compressors(t)
	for _, f := range jsonFixtures {
		for _, name := range []string{"zstd-fastest", "zstd-default", "s2", "s2-better"} {
			n := len(c[name](f.data))
			t.Logf("%-8s %5d -> %-13s %5d (%3.0f%%)", f.name, len(f.data), name, n, 100*float64(n)/float64(len(f.data)))
		}
	}
	if z, s := len(c["zstd-fastest"](fixtures.Large)), len(c["s2"](fixtures.Large)); z >= s {
		t.Errorf("zstd %d bytes is not smaller than s2 %d on LARGE", z, s)
	}
}

func BenchmarkCompressors(b *testing.B) {
	dec, _ := zstd.NewReader(nil)
	for _, f := range jsonFixtures {
		for name, c := range compressors(b) {
			out := c(f.data)
			b.Run(f.name+"/"+name+"/compress", func(b *testing.B) {
				b.SetBytes(int64(len(f.data)))
				for b.Loop() {
					c(f.data)
				}
			})
			b.Run(f.name+"/"+name+"/decompress", func(b *testing.B) {
				b.SetBytes(int64(len(f.data)))
				for b.Loop() {
					if name[0] == 's' {
						s2.Decode(nil, out)
					} else {
						dec.DecodeAll(out, nil)
					}
				}
			})
		}
	}
}

// BenchmarkCiphers seals then opens, uncompressed, with each cipher in one
// run: the cost of AES256GCM's key per message (two HMAC-SHA256 for HKDF and
// an AES key schedule) against XChaCha20Poly1305.
func BenchmarkCiphers(b *testing.B) {
	for _, c := range []crypto.Cipher{crypto.XChaCha20Poly1305, crypto.AES256GCM} {
		r := mustRing(b, [][]byte{secret(1)}, crypto.WithCipher(c), crypto.WithCompressionThreshold(0))
		for _, n := range benchSizes[:3] {
			data := benchData(n)
			b.Run(fmt.Sprintf("%s/%d", c, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				var p crypto.Payload
				for b.Loop() {
					v, err := r.Seal("s", crypto.Payload{Data: data, IssuedAt: t0})
					if err != nil {
						b.Fatal(err)
					}
					if p, _, err = r.Open("s", v, t0); err != nil {
						b.Fatal(err)
					}
				}
				if len(p.Data) != n {
					b.Fatalf("opened %d bytes, want %d", len(p.Data), n)
				}
			})
		}
	}
}

// BenchmarkPadding seals then opens the fixtures with the default
// compression, without padding and with buckets of 256 and 1024 bytes, and
// reports the sealed value's length (chars/op): the cost of WithPadding.
func BenchmarkPadding(b *testing.B) {
	for _, fx := range []struct {
		name string
		data []byte
	}{{"SMALL", fixtures.Small}, {"typical", fixtures.Typical}, {"LARGE", fixtures.Large}} {
		for _, bucket := range []int{0, 256, 1024} {
			r := mustRing(b, [][]byte{secret(1)}, crypto.WithPadding(bucket))
			b.Run(fmt.Sprintf("%s/bucket=%d", fx.name, bucket), func(b *testing.B) {
				b.ReportAllocs()
				var v string
				for b.Loop() {
					var err error
					if v, err = r.Seal("s", crypto.Payload{Data: fx.data, IssuedAt: t0}); err != nil {
						b.Fatal(err)
					}
					if _, _, err = r.Open("s", v, t0); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(v)), "chars/op")
			})
		}
	}
}
