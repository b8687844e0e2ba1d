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
// they all pass and at least one ran. env is added to the child's
// environment ("NAME=value").
func Run(t *testing.T, pattern string, env ...string) {
	t.Helper()
	run(t, "in FIPS 140-only mode", pattern, append([]string{"GODEBUG=fips140=only", childEnv + "=1"}, env...))
}

// RunPlain runs the tests that pattern selects in a child process outside
// FIPS 140-only mode, with env added to its environment: for a package
// whose tests read a setting from the environment.
func RunPlain(t *testing.T, pattern string, env ...string) {
	t.Helper()
	run(t, "with "+strings.Join(env, " "), pattern, env)
}

func run(t *testing.T, how, pattern string, env []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+pattern, "-test.count=1", "-test.v", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s, %s: %v\n%s", how, pattern, err, out)
	}
	if !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("%s, %s ran no test:\n%s", how, pattern, out)
	}
}
