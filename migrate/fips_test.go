//go:build !js && !wasip1

// The child process needs os/exec, which js/wasm and wasip1 lack.

package migrate_test

import (
	"strings"
	"testing"

	"github.com/crumbs-go/session/internal/fipstest"
	"github.com/crumbs-go/session/migrate"
)

// TestFIPS140OnlyCookieSessionHash: in FIPS 140-only mode,
// FromCookieSession refuses keygrip's default HMAC-SHA1 when it is built
// (the mode's HMAC would panic on every import), and takes sha256.
func TestFIPS140OnlyCookieSessionHash(t *testing.T) {
	if !fipstest.Child(t) {
		fipstest.Run(t, "^TestFIPS140OnlyCookieSessionHash$")
		return
	}
	keys := []string{"a cookie-session key, long enough for FIPS"}
	if _, err := migrate.FromCookieSession(migrate.CookieSession{Keys: keys}); err == nil || !strings.Contains(err.Error(), "FIPS 140-only mode") {
		t.Fatalf("FromCookieSession with sha1 in FIPS 140-only mode: %v; want an error that names the mode", err)
	}
	if _, err := migrate.FromCookieSession(migrate.CookieSession{Keys: keys, Hash: "sha256"}); err != nil {
		t.Fatalf("FromCookieSession with sha256 in FIPS 140-only mode: %v", err)
	}
}
