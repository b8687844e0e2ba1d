// Package fipstest runs a package's tests again in FIPS 140-only mode
// (GODEBUG=fips140=only), in a child process of the test binary: the Go
// Cryptographic Module then refuses every algorithm that is not approved
// (ChaCha20-Poly1305, SHA-1, HMAC keys under 112 bits) with a panic or an
// error.
package fipstest

import (
	"crypto/fips140"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const childEnv = "CRUMBS_FIPS140_CHILD"

// Child reports whether this test runs in the child Run started; there it
// fails t unless FIPS 140-only mode is enforced.
func Child(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) != "1" {
		return false
	}
	if !fips140.Enforced() {
		t.Fatal("the child does not run in FIPS 140-only mode (GODEBUG=fips140=only)")
	}
	return true
}

// Run runs the tests that pattern selects (a -test.run pattern) in a child
// process in FIPS 140-only mode, and fails t with the child's output unless
// they all pass and at least one ran.
func Run(t *testing.T, pattern string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+pattern, "-test.count=1", "-test.v", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140=only", childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in FIPS 140-only mode, %s: %v\n%s", pattern, err, out)
	}
	if !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("in FIPS 140-only mode, %s ran no test:\n%s", pattern, out)
	}
}
