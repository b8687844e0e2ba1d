// Package leakcheck fails a test binary that leaves goroutines running
// after its tests, as go.uber.org/goleak's VerifyTestMain does, without a
// dependency: every test package of every crumbs module calls Main from
// its TestMain.
//
// After the tests pass, Main closes the idle connections of
// http.DefaultTransport and then waits up to 10 s for the goroutines the
// tests started to end (a closed server's connections, a stopped timer's
// callback, a client's reader end a moment later). What is still running
// then is printed with its stack, and the binary fails. The runtime's own
// goroutines and those of the testing package are not counted; a package
// names what else it keeps on purpose (a server shared by all its tests
// and stopped by the operating system) with Ignore.
package leakcheck

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// An Option names goroutines Main does not count.
type Option func(*config)

type config struct{ ignore []string }

// Ignore skips the goroutines whose stack holds a frame of function fn
// (a full name, as printed in a stack: "net/http.(*Server).Serve").
func Ignore(fn ...string) Option {
	return func(c *config) { c.ignore = append(c.ignore, fn...) }
}

// always are goroutines of the runtime and of the standard library that
// outlive any test by design.
var always = []string{
	"testing.(*M).",
	"testing.runFuzzing",
	"testing.(*F).",
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
	"runtime.goexit0",
	"runtime/trace.Start",
}

// Main runs the tests, then fails the binary if they leaked goroutines.
// It does not return.
func Main(m *testing.M, opts ...Option) {
	os.Exit(Verify(m.Run(), opts...))
}

// Verify is Main for a TestMain that stops what it started after the
// tests: it takes m.Run's exit code and returns the one to exit with, 1 if
// the tests passed but leaked goroutines.
func Verify(code int, opts ...Option) int {
	if code != 0 || fuzzing() {
		return code
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	if leaked := Find(10*time.Second, c.ignore...); len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "leakcheck: %d goroutines still running after the tests:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
		return 1
	}
	return code
}

// fuzzing reports whether this binary runs a fuzz target's coordinator or
// workers (go test -fuzz), which keep goroutines between inputs.
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// Find waits up to wait for the goroutines other than the caller's, the
// runtime's and ignore's to end, and returns the stacks of those that did
// not.
func Find(wait time.Duration, ignore ...string) []string {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	deadline := time.Now().Add(wait)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		leaked := running(ignore)
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(pause)
	}
}

// running returns the stacks of the goroutines other than the caller's
// that no ignore entry names.
func running(ignore []string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := strings.Split(string(buf), "\n\n")
	var leaked []string
	for _, g := range stacks[1:] { // the first is the caller's
		if !skip(g, ignore) {
			leaked = append(leaked, g)
		}
	}
	return leaked
}

func skip(g string, ignore []string) bool {
	for _, list := range [][]string{always, ignore} {
		for _, fn := range list {
			if strings.Contains(g, "\n"+fn) {
				return true
			}
		}
	}
	// A goroutine the runtime started for itself has no user frame.
	lines := strings.Split(g, "\n")
	for _, l := range lines[1:] {
		if l == "" || strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "runtime.") || strings.HasPrefix(l, "created by runtime.") || strings.HasPrefix(l, "internal/runtime/") {
			continue
		}
		return false
	}
	return true
}
