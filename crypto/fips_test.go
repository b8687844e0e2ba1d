//go:build !js && !wasip1

// The children need os/exec, which js/wasm and wasip1 lack.

package crypto_test

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/internal/fipstest"
	"github.com/crumbs-go/session/internal/fixtures"
)

// TestRingTestsAES256GCM runs the ring tests again with AES256GCM sealing,
// in a child process.
func TestRingTestsAES256GCM(t *testing.T) {
	fipstest.RunPlain(t, ringTests, cipherEnv+"="+crypto.AES256GCM.String())
}

// TestFIPS140Only runs the ring tests with AES256GCM in FIPS 140-only mode
// (GODEBUG=fips140=only), where AES-GCM must draw its own nonces, and
// checks what that mode refuses: sealing with XChaCha20Poly1305, and opening
// a version 1 value (ErrInvalid: a cookie from before a migration to
// AES256GCM yields a fresh session).
func TestFIPS140Only(t *testing.T) {
	if !fipstest.Child(t) {
		fipstest.Run(t, ringTests+"|^TestFIPS140Only$", cipherEnv+"="+crypto.AES256GCM.String())
		return
	}
	// A version 1 envelope under secret(1)'s key ID (spec §2): the mode
	// refuses the cipher before the tag is checked.
	id, err := hkdf.Key(sha256.New, secret(1), nil, "github.com/crumbs-go/session/v1/key-id", crypto.KeyIDSize)
	if err != nil {
		t.Fatal(err)
	}
	v1 := encode(append(append([]byte{1}, id...), make([]byte, crypto.Overhead+10)...))
	r := mustRing(t, [][]byte{secret(1)}, crypto.WithCipher(crypto.XChaCha20Poly1305))
	if _, err := r.Seal("s", crypto.Payload{Data: fixtures.Small, IssuedAt: t0}); err == nil {
		t.Fatal("Seal with XChaCha20Poly1305 succeeded in FIPS 140-only mode")
	}
	_, _, err = mustRing(t, [][]byte{secret(1)}).Open("s", v1, t0)
	if !errors.Is(err, crypto.ErrInvalid) || !strings.Contains(err.Error(), "FIPS 140-only") {
		t.Fatalf("Open(version 1) in FIPS 140-only mode = %v, want ErrInvalid naming the mode", err)
	}
}
