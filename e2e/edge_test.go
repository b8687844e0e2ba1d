package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// wasiCalls records the names of the WASI functions a module calls.
type wasiCalls struct {
	mu    sync.Mutex
	names map[string]int
}

func (w *wasiCalls) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if def.ModuleName() != wasi_snapshot_preview1.ModuleName {
		return nil
	}
	name := def.Name()
	return experimental.FunctionListenerFunc(func(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
		w.mu.Lock()
		w.names[name]++
		w.mu.Unlock()
	})
}

// TestEdgeNoGoroutinesNoFilesystem compiles the edge program for wasip1 and
// runs it in wazero with no directory mounted, recording every WASI call:
// cookie mode (10 requests, a session that grows and compresses) must open
// no path and start no goroutine. A control run that does both shows that
// the watch would see them.
func TestEdgeNoGoroutinesNoFilesystem(t *testing.T) {
	wasm := buildEdge(t)
	calls, m := runEdge(t, wasm)
	if m[1] != m[2] {
		t.Errorf("goroutines: %s before, %s after ten requests", m[1], m[2])
	}
	if m[3] != "10" {
		t.Errorf("counter = %s after ten requests: the session did not survive", m[3])
	}
	var names []string
	for n := range calls.names {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("WASI calls: %s", strings.Join(names, " "))
	for _, n := range names {
		if strings.HasPrefix(n, "path_") || n == "fd_readdir" {
			t.Errorf("cookie mode touched the filesystem: %s called %d times", n, calls.names[n])
		}
	}
	control, cm := runEdge(t, wasm, "-control")
	if control.names["path_open"] == 0 || cm[1] == cm[2] {
		t.Fatalf("the control run's file read and goroutine went unseen: path_open %d, goroutines %s/%s",
			control.names["path_open"], cm[1], cm[2])
	}
}

func buildEdge(t *testing.T) []byte {
	bin := filepath.Join(t.TempDir(), "edge.wasm")
	build := exec.Command("go", "build", "-o", bin, "./edge")
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	wasm, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// runEdge runs the program and returns its WASI calls and parsed output.
func runEdge(t *testing.T, wasm []byte, args ...string) (*wasiCalls, []string) {
	calls := &wasiCalls{names: map[string]int{}}
	ctx := experimental.WithFunctionListenerFactory(context.Background(), calls)
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	var stdout, stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().WithArgs(append([]string{"edge"}, args...)...).WithStdout(&stdout).WithStderr(&stderr).
		WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader) // no FS config: nothing mounted
	if _, err := r.InstantiateWithConfig(ctx, wasm, cfg); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	out := stdout.String()
	m := regexp.MustCompile(`goroutines before=(\d+) after=(\d+)\ncounter=(\d+) cookies=(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("unexpected output %q (stderr %q)", out, stderr.String())
	}
	return calls, m
}
