package crypto_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/internal/fixtures"
)

// cipherEnv makes the ring tests seal with another cipher, in the children
// that TestRingTestsAES256GCM and TestFIPS140Only start.
const cipherEnv = "CRUMBS_TEST_CIPHER"

// testCipher is what mustRing seals with: XChaCha20Poly1305, the default,
// unless the process runs as one of those children.
var testCipher = func() crypto.Cipher {
	c, err := crypto.ParseCipher(os.Getenv(cipherEnv))
	if err != nil {
		return crypto.XChaCha20Poly1305
	}
	return c
}()

// ringTests are the tests that seal through mustRing: the children run
// them again with AES256GCM.
const ringTests = "^(TestPadding|TestSealOpenRoundTrip|TestCompression|TestRotation|TestOpenDeadlines|TestSealErrors|TestEveryBitFlip|TestOpenRejectsNonCanonicalText|TestDecompressionBomb|TestNoGoroutines|TestSignVerify|TestCiphersReadEachOther)$"

func TestCiphersReadEachOther(t *testing.T) {
	t.Parallel()
	if crypto.OverheadAES256GCM != crypto.Overhead+4 {
		t.Fatalf("OverheadAES256GCM = %d, want %d + 4", crypto.OverheadAES256GCM, crypto.Overhead)
	}
	ciphers := []crypto.Cipher{crypto.XChaCha20Poly1305, crypto.AES256GCM}
	if testCipher == crypto.AES256GCM {
		ciphers = ciphers[1:] // the FIPS 140-only child: version 1 cannot run there
	}
	for _, sealer := range ciphers {
		for _, opener := range ciphers {
			s := mustRing(t, [][]byte{secret(1)}, crypto.WithCipher(sealer))
			o := mustRing(t, [][]byte{secret(2), secret(1)}, crypto.WithCipher(opener))
			if s.Cipher() != sealer {
				t.Fatalf("Cipher() = %v, want %v", s.Cipher(), sealer)
			}
			for _, data := range [][]byte{nil, fixtures.Small, fixtures.Large} {
				v, err := s.Seal("s", crypto.Payload{Data: data, IssuedAt: t0})
				if err != nil {
					t.Fatal(err)
				}
				if got := decode(t, v)[0]; got != byte(sealer) {
					t.Fatalf("%v sealed envelope version %d", sealer, got)
				}
				p, stale, err := o.Open("s", v, t0)
				if err != nil || !stale || !bytes.Equal(p.Data, data) {
					t.Fatalf("%v sealed, %v opened: %v, stale %t", sealer, opener, err, stale)
				}
				// Under the same primary secret, only the other version is
				// stale: it is to be re-sealed with the ring's cipher.
				same := mustRing(t, [][]byte{secret(1)}, crypto.WithCipher(opener))
				if _, stale, err := same.Open("s", v, t0); err != nil || stale != (sealer != opener) {
					t.Fatalf("%v sealed, %v opened under the same secret: %v, stale %t", sealer, opener, err, stale)
				}
				// The salt and nonce are fresh for every seal.
				if w, _ := s.Seal("s", crypto.Payload{Data: data, IssuedAt: t0}); w == v {
					t.Fatalf("%v sealed the same payload twice to the same value", sealer)
				}
			}
		}
	}
	// A value of version 2 cut to the length of a version 1 envelope.
	v, err := mustRing(t, [][]byte{secret(1)}, crypto.WithCipher(crypto.AES256GCM)).Seal("s", crypto.Payload{IssuedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	b := decode(t, v)
	if len(b) != crypto.OverheadAES256GCM {
		t.Fatalf("an empty payload sealed to %d bytes, want %d", len(b), crypto.OverheadAES256GCM)
	}
	for n := crypto.Overhead; n < len(b); n++ {
		if _, _, err := mustRing(t, [][]byte{secret(1)}).Open("s", encode(b[:n]), t0); !errors.Is(err, crypto.ErrInvalid) {
			t.Fatalf("a version 2 envelope cut to %d bytes: %v, want ErrInvalid", n, err)
		}
	}
}

func TestParseCipher(t *testing.T) {
	t.Parallel()
	for _, c := range []crypto.Cipher{crypto.XChaCha20Poly1305, crypto.AES256GCM} {
		if got, err := crypto.ParseCipher(c.String()); err != nil || got != c {
			t.Errorf("ParseCipher(%q) = %v, %v", c.String(), got, err)
		}
	}
	for _, bad := range []string{"", "aes", "AES-256-GCM", "chacha20-poly1305"} {
		if _, err := crypto.ParseCipher(bad); err == nil || !strings.Contains(err.Error(), "aes-256-gcm") {
			t.Errorf("ParseCipher(%q) = %v, want an error naming the choices", bad, err)
		}
	}
	if _, err := crypto.New([][]byte{secret(1)}, crypto.WithCipher(0)); err == nil || !strings.Contains(err.Error(), "crypto.AES256GCM") {
		t.Errorf("WithCipher(0) = %v, want an error naming the choices", err)
	}
}
