//go:build !js && !wasip1

// The child process needs os/exec, which js/wasm and wasip1 lack.

package cookiestore_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/internal/fipstest"
)

// TestFIPS140OnlyRefused: cookie mode seals with XChaCha20-Poly1305, which
// FIPS 140-only mode refuses: New says so at construction, not the first
// request.
func TestFIPS140OnlyRefused(t *testing.T) {
	if fipstest.Child(t) {
		_, err := cookiestore.New([][]byte{bytes.Repeat([]byte("k"), 32)})
		if err == nil || !strings.Contains(err.Error(), "FIPS 140-only mode") {
			t.Fatalf("cookiestore.New in FIPS 140-only mode: %v; want an error that names the mode", err)
		}
		return
	}
	fipstest.Run(t, "^TestFIPS140OnlyRefused$")
}
