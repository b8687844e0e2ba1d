package crypto_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/internal/fixtures"
)

func secret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

var t0 = time.Unix(1764201600, 0)

// mustRing builds a ring that seals with testCipher unless opts say
// otherwise.
func mustRing(t testing.TB, secrets [][]byte, opts ...crypto.Option) *crypto.Ring {
	t.Helper()
	r, err := crypto.New(secrets, append([]crypto.Option{crypto.WithCipher(testCipher)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets [][]byte
		opts    []crypto.Option
		want    string // a fragment the message must hold, naming what to fix
	}{
		{"no secrets", nil, nil, "no secrets"},
		{"empty secret", [][]byte{secret(1), {}}, nil, "secret 1 is 0 bytes"},
		{"short secret", [][]byte{make([]byte, 31)}, nil, "secret 0 is 31 bytes"},
		{"duplicate", [][]byte{secret(1), secret(2), secret(1)}, nil, "secret 2 is the same as secret 0"},
		{"max data zero", [][]byte{secret(1)}, []crypto.Option{crypto.WithMaxDataSize(0)}, "WithMaxDataSize(0)"},
		{"max data huge", [][]byte{secret(1)}, []crypto.Option{crypto.WithMaxDataSize(1 << 30)}, "between 1 and"},
		{"negative threshold", [][]byte{secret(1)}, []crypto.Option{crypto.WithCompressionThreshold(-1)}, "WithCompressionThreshold(-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := crypto.New(tt.secrets, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	r := mustRing(t, [][]byte{secret(1)})
	for _, data := range [][]byte{{}, []byte("x"), fixtures.Small, fixtures.Typical, fixtures.Large, bytes.Repeat([]byte{0xff}, 20000)} {
		p := crypto.Payload{Data: data, IssuedAt: t0, Expires: t0.Add(time.Hour), IdleExpires: t0.Add(time.Minute)}
		v, err := r.Seal("s", p)
		if err != nil {
			t.Fatal(err)
		}
		got, stale, err := r.Open("s", v, t0.Add(59*time.Second))
		if err != nil || stale {
			t.Fatalf("Open(%d bytes) = %v, stale %t", len(data), err, stale)
		}
		if !bytes.Equal(got.Data, data) || !got.IssuedAt.Equal(t0) || !got.Expires.Equal(p.Expires) || !got.IdleExpires.Equal(p.IdleExpires) {
			t.Fatalf("Open(%d bytes) returned a different payload", len(data))
		}
	}
}

func TestCompression(t *testing.T) {
	t.Parallel()
	random := make([]byte, 4000)
	rand.Read(random)
	tests := []struct {
		name       string
		opts       []crypto.Option
		data       []byte
		compressed bool
	}{
		{"large json compresses", nil, fixtures.Large, true},
		{"small json stays raw under the threshold", nil, fixtures.Small, false},
		{"small json compressed from threshold 1 when smaller", []crypto.Option{crypto.WithCompressionThreshold(1)}, []byte(strings.Repeat(`{"a":1}`, 40)), true},
		{"off", []crypto.Option{crypto.WithCompressionThreshold(0)}, fixtures.Large, false},
		{"incompressible stays raw", nil, random, false},
	}
	raw := mustRing(t, [][]byte{secret(1)}, crypto.WithCompressionThreshold(0))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustRing(t, [][]byte{secret(1)}, tt.opts...)
			v, err := r.Seal("s", crypto.Payload{Data: tt.data, IssuedAt: t0})
			if err != nil {
				t.Fatal(err)
			}
			plain, _ := raw.Seal("s", crypto.Payload{Data: tt.data, IssuedAt: t0})
			if got := len(v) < len(plain); got != tt.compressed {
				t.Fatalf("sealed %d characters, raw %d: compressed = %t, want %t", len(v), len(plain), got, tt.compressed)
			}
			// Any ring opens it, whatever its own compression setting.
			got, _, err := raw.Open("s", v, t0)
			if err != nil || !bytes.Equal(got.Data, tt.data) {
				t.Fatalf("Open = %v", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	old := mustRing(t, [][]byte{secret(1)})
	v, err := old.Seal("s", crypto.Payload{Data: []byte("hi"), IssuedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	// The old secret is second, then third behind another: its key ID does
	// not depend on its position.
	for _, ring := range [][][]byte{{secret(2), secret(1)}, {secret(2), secret(3), secret(1)}} {
		r := mustRing(t, ring)
		p, stale, err := r.Open("s", v, t0)
		if err != nil || !stale || string(p.Data) != "hi" {
			t.Fatalf("Open under a rotated ring = %q, stale %t, %v; want hi, stale", p.Data, stale, err)
		}
		resealed, err := r.Seal("s", p)
		if err != nil {
			t.Fatal(err)
		}
		if _, stale, err := r.Open("s", resealed, t0); err != nil || stale {
			t.Fatalf("re-sealed value: stale %t, %v; want fresh", stale, err)
		}
		if _, _, err := old.Open("s", resealed, t0); !errors.Is(err, crypto.ErrInvalid) {
			t.Fatalf("old ring opened a value sealed under the new secret: %v", err)
		}
	}
}

func TestOpenDeadlines(t *testing.T) {
	t.Parallel()
	r := mustRing(t, [][]byte{secret(1)})
	p := crypto.Payload{Data: []byte("x"), IssuedAt: t0, Expires: t0.Add(10 * time.Hour), IdleExpires: t0.Add(time.Hour)}
	v, err := r.Seal("s", p)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"at issue", t0, true},
		{"just before idle", t0.Add(time.Hour - time.Nanosecond), true},
		{"at idle", t0.Add(time.Hour), false},
		{"after absolute", t0.Add(11 * time.Hour), false},
		{"before 1970", time.Unix(-5, 0), false},
	}
	for _, tt := range tests {
		if _, _, err := r.Open("s", v, tt.now); (err == nil) != tt.ok || (err != nil && !errors.Is(err, crypto.ErrInvalid)) {
			t.Errorf("%s: Open = %v, want ok %t", tt.name, err, tt.ok)
		}
	}
	// An idle deadline past the absolute one does not extend it.
	p.IdleExpires = t0.Add(20 * time.Hour)
	v, _ = r.Seal("s", p)
	if _, _, err := r.Open("s", v, t0.Add(10*time.Hour)); !errors.Is(err, crypto.ErrInvalid) {
		t.Errorf("Open after the absolute deadline = %v, want ErrInvalid", err)
	}
}

func TestSealErrors(t *testing.T) {
	t.Parallel()
	r := mustRing(t, [][]byte{secret(1)}, crypto.WithMaxDataSize(100))
	if _, err := r.Seal("s", crypto.Payload{Data: make([]byte, 101)}); !errors.Is(err, crypto.ErrTooLarge) || !strings.Contains(err.Error(), "101 bytes") {
		t.Errorf("Seal(101 bytes) = %v, want ErrTooLarge naming the size", err)
	}
	if _, err := r.Seal("", crypto.Payload{}); err == nil {
		t.Error("Seal with an empty name succeeded")
	}
	if _, err := r.Seal(strings.Repeat("n", crypto.MaxNameSize+1), crypto.Payload{}); err == nil {
		t.Error("Seal with an overlong name succeeded")
	}
	if _, err := r.Seal("s", crypto.Payload{IssuedAt: time.Unix(-1, 0)}); err == nil {
		t.Error("Seal with a time before 1970 succeeded")
	}
}

// TestEveryBitFlip flips each bit of the decoded envelope, re-encodes it
// canonically and opens it: every flip must be rejected (each byte is under
// the tag or selects the key).
func TestEveryBitFlip(t *testing.T) {
	t.Parallel()
	r := mustRing(t, [][]byte{secret(1), secret(2)})
	for _, data := range [][]byte{fixtures.Small, fixtures.Typical} {
		v, err := r.Seal("s", crypto.Payload{Data: data, IssuedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		b := decode(t, v)
		for i := range b {
			for bit := range 8 {
				b[i] ^= 1 << bit
				if _, _, err := r.Open("s", encode(b), t0); !errors.Is(err, crypto.ErrInvalid) {
					t.Fatalf("flip of bit %d in byte %d: Open = %v, want ErrInvalid", bit, i, err)
				}
				b[i] ^= 1 << bit
			}
		}
	}
}

func TestOpenRejectsNonCanonicalText(t *testing.T) {
	t.Parallel()
	r := mustRing(t, [][]byte{secret(1)})
	v, err := r.Seal("s", crypto.Payload{Data: fixtures.Small, IssuedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, value string }{
		{"newline inside", v[:50] + "\n" + v[50:]},
		{"carriage return at end", v + "\r"},
		{"padding", v + "=="},
		{"space", " " + v},
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(v)},
		{"empty", ""},
		{"huge", strings.Repeat("A", r.MaxValueSize()+1)},
	}
	for _, tt := range tests {
		if tt.value == v {
			continue // the value happened to hold no - or _
		}
		if _, _, err := r.Open("s", tt.value, t0); !errors.Is(err, crypto.ErrInvalid) {
			t.Errorf("%s: Open = %v, want ErrInvalid", tt.name, err)
		}
	}
	if _, _, err := r.Open("t", v, t0); !errors.Is(err, crypto.ErrInvalid) {
		t.Errorf("Open under another cookie name = %v, want ErrInvalid", err)
	}
}

// TestDecompressionBomb seals (with the key: the worst case) a frame that
// expands far past the limit and checks that opening it allocates less than
// the expanded size would take.
func TestDecompressionBomb(t *testing.T) {
	big := mustRing(t, [][]byte{secret(1)}, crypto.WithMaxDataSize(16<<20))
	v, err := big.Seal("s", crypto.Payload{Data: make([]byte, 16<<20), IssuedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > 8000 {
		t.Fatalf("the bomb takes %d characters; want one that fits two cookies", len(v))
	}
	r := mustRing(t, [][]byte{secret(1)}) // default limit, 128 KiB
	r.Open("s", v, t0)                    // build the decoder outside the measurement
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err = r.Open("s", v, t0)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, crypto.ErrInvalid) {
		t.Fatalf("Open(bomb) = %v, want ErrInvalid", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Fatalf("Open(bomb) allocated %d bytes; want far less than the 16 MiB it expands to", n)
	}
}

// TestNoGoroutines: sealing and opening, compressed or not, starts nothing
// that outlives the call (cookie mode runs on runtimes without threads). It
// looks for goroutines running this module's or the compressor's code, so
// that other tests' goroutines cannot disturb it.
func TestNoGoroutines(t *testing.T) {
	r := mustRing(t, [][]byte{secret(1)})
	for range 3 {
		v, err := r.Seal("s", crypto.Payload{Data: fixtures.Large, IssuedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.Open("s", v, t0); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "klauspost/compress") || (strings.Contains(g, "crumbs-go/session/crypto.") && !strings.Contains(g, "testing.tRunner")) {
			t.Fatalf("a goroutine outlives Seal and Open:\n%s", g)
		}
	}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	old := mustRing(t, [][]byte{secret(1)})
	r := mustRing(t, [][]byte{secret(2), secret(1)})
	id := "0123456789abcdefghijABCDEFGHIJ-_0123456789abc"
	signed, err := r.Sign("sid", id)
	if err != nil {
		t.Fatal(err)
	}
	got, stale, err := r.Verify("sid", signed)
	if err != nil || stale || got != id {
		t.Fatalf("Verify = %q, %t, %v", got, stale, err)
	}
	oldSigned, _ := old.Sign("sid", id)
	if got, stale, err := r.Verify("sid", oldSigned); err != nil || !stale || got != id {
		t.Fatalf("Verify(old signature) = %q, stale %t, %v; want the ID, stale", got, stale, err)
	}
	if _, _, err := old.Verify("sid", signed); !errors.Is(err, crypto.ErrInvalid) {
		t.Fatalf("a ring without the signing secret verified: %v", err)
	}
	if _, _, err := r.Verify("other", signed); !errors.Is(err, crypto.ErrInvalid) {
		t.Fatalf("Verify under another name = %v, want ErrInvalid", err)
	}
	b := []byte(signed)
	for i := range b {
		for bit := range 8 {
			b[i] ^= 1 << bit
			if _, _, err := r.Verify("sid", string(b)); !errors.Is(err, crypto.ErrInvalid) {
				t.Fatalf("flip of bit %d in byte %d verified: %v", bit, i, err)
			}
			b[i] ^= 1 << bit
		}
	}
	for _, bad := range []string{"", "a.b", strings.Repeat("A", 2000), signed + "=", id + strings.Repeat("A", 50), signed[:len(signed)-1]} {
		if _, _, err := r.Verify("sid", bad); !errors.Is(err, crypto.ErrInvalid) {
			t.Errorf("Verify(%.30q) = %v, want ErrInvalid", bad, err)
		}
	}
	for _, bad := range []string{"", "has space", "semi;colon", "a.b", strings.Repeat("A", crypto.MaxSignedPayload+1)} {
		if _, err := r.Sign("sid", bad); err == nil {
			t.Errorf("Sign(%.30q) succeeded", bad)
		}
	}
}

// TestSmallMaxDataSize: under a maximum data size below the compressor's
// window (2 KiB), every compressed value opens again (before, a frame of
// 1 KiB or more declared a window the decoder refused: the session was
// lost on its next request).
func TestSmallMaxDataSize(t *testing.T) {
	t.Parallel()
	for _, maxData := range []int{64, 600, 1024, 1025, 2047, 2048, 2049, 3000, 4095, 4096, 5000} {
		r := mustRing(t, [][]byte{secret(1)}, crypto.WithMaxDataSize(maxData), crypto.WithCompressionThreshold(1))
		for n := 1; n <= maxData; n += 1 + n/16 {
			for _, data := range [][]byte{bytes.Repeat([]byte("a"), n), []byte(strings.Repeat(`{"k":"v"}`, n)[:n])} {
				v, err := r.Seal("s", crypto.Payload{Data: data, IssuedAt: t0})
				if err != nil {
					t.Fatal(err)
				}
				if p, _, err := r.Open("s", v, t0); err != nil || !bytes.Equal(p.Data, data) {
					t.Fatalf("max %d, %d bytes: Open = %v", maxData, n, err)
				}
			}
		}
		// n = maxData exactly.
		data := bytes.Repeat([]byte("a"), maxData)
		v, _ := r.Seal("s", crypto.Payload{Data: data, IssuedAt: t0})
		if _, _, err := r.Open("s", v, t0); err != nil {
			t.Fatalf("max %d, %d bytes: Open = %v", maxData, maxData, err)
		}
	}
}

// TestPadding: a padded value's length is the same for every data length
// within a bucket, compressed or not; every ring opens it; the bucket is
// 16 to 4096 bytes.
func TestPadding(t *testing.T) {
	t.Parallel()
	plain := mustRing(t, [][]byte{secret(1)})
	for _, bucket := range []int{16, 256, 1024, crypto.MaxPadding} {
		r := mustRing(t, [][]byte{secret(1)}, crypto.WithPadding(bucket))
		lengths := map[int]bool{}
		for _, n := range []int{0, 1, 13, 14, 200, 254} { // one bucket of 256 for raw bodies (2 bytes of length)
			data := bytes.Repeat([]byte{'x'}, n)
			v, err := r.Seal("s", crypto.Payload{Data: data, IssuedAt: t0})
			if err != nil {
				t.Fatal(err)
			}
			body := len(decode(t, v)) - crypto.Overhead
			if testCipher == crypto.AES256GCM {
				body = len(decode(t, v)) - crypto.OverheadAES256GCM
			}
			if body%bucket != 0 || body < n+2 {
				t.Fatalf("bucket %d, %d bytes: a body of %d bytes", bucket, n, body)
			}
			if bucket == 256 {
				lengths[len(v)] = true
			}
			for _, o := range []*crypto.Ring{r, plain} {
				if p, _, err := o.Open("s", v, t0); err != nil || !bytes.Equal(p.Data, data) {
					t.Fatalf("bucket %d, %d bytes: Open = %v", bucket, n, err)
				}
			}
			if env, _, err := plain.Inspect("s", v, t0); err != nil || !env.Padded {
				t.Fatalf("Inspect: %+v, %v", env, err)
			}
		}
		if bucket == 256 && len(lengths) != 1 {
			t.Fatalf("bucket 256: data of 0 to 254 bytes sealed to %d lengths, want 1", len(lengths))
		}
		// Compressed data is padded after compression.
		v, _ := r.Seal("s", crypto.Payload{Data: fixtures.Large, IssuedAt: t0})
		if env, p, err := plain.Inspect("s", v, t0); err != nil || !env.Compressed || !env.Padded || !bytes.Equal(p.Data, fixtures.Large) {
			t.Fatalf("bucket %d, LARGE: %+v, %v", bucket, env, err)
		}
	}
	// The largest data with the largest padding still opens under the
	// default limits.
	r := mustRing(t, [][]byte{secret(1)}, crypto.WithPadding(crypto.MaxPadding), crypto.WithCompressionThreshold(0))
	big := make([]byte, crypto.DefaultMaxDataSize)
	rand.Read(big)
	v, err := r.Seal("s", crypto.Payload{Data: big, IssuedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := plain.Open("s", v, t0); err != nil {
		t.Fatalf("the largest padded value: %v", err)
	}
	for _, bad := range []int{-1, 1, 15, crypto.MaxPadding + 1} {
		if _, err := crypto.New([][]byte{secret(1)}, crypto.WithPadding(bad)); err == nil || !strings.Contains(err.Error(), "WithPadding") {
			t.Errorf("WithPadding(%d) = %v", bad, err)
		}
	}
}
