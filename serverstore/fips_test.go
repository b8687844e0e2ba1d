package serverstore_test

import (
	"testing"
	"time"

	"github.com/crumbs-go/session/internal/fipstest"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// TestFIPS140Only: server mode signs (HKDF-SHA256, HMAC-SHA256) and never
// builds the cookie store's XChaCha20-Poly1305, so the memory backend's
// conformance suite passes in FIPS 140-only mode (GODEBUG=fips140=only),
// in a child process.
func TestFIPS140Only(t *testing.T) {
	if fipstest.Child(t) {
		storetest.RunClocked(t, func(t *testing.T, now func() time.Time) serverstore.Backend {
			return serverstore.NewMemory(serverstore.WithClock(now))
		})
		return
	}
	fipstest.Run(t, "^TestFIPS140Only$")
}
