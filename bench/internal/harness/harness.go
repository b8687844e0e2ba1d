// Package harness is what the HTTP load harness (bench/loadtest), the
// fault scripts (bench/faults) and the hostile-traffic run (bench/hostile)
// share: building and starting bench/loadserver, and reading a process's
// peak memory.
package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Setup makes a temporary folder named after the tool and builds
// bench/loadserver into it; cleanup removes the folder.
func Setup(tool string) (dir, server string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", "crumbs-"+tool)
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	if server, err = BuildServer(dir); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return dir, server, cleanup, nil
}

// FreeAddr is a loopback address no one listens on, from the kernel's range
// for outgoing connections (the stores the tools start listen below it).
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Stats reads a loadserver's /stats: requests, mallocs and goroutines.
func Stats(c *http.Client, base string) (map[string]int64, error) {
	res, err := c.Get(base + "/stats")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var m map[string]int64
	return m, json.NewDecoder(res.Body).Decode(&m)
}

// BuildServer builds bench/loadserver into dir and returns its path.
func BuildServer(dir string) (string, error) {
	bin := filepath.Join(dir, "loadserver")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/crumbs-go/session/bench/loadserver").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build loadserver: %v\n%s", err, out)
	}
	return bin, nil
}

// WaitUp waits up to 5 s for a loadserver at base ("http://host:port")
// to answer.
func WaitUp(base string) error {
	for range 100 {
		if res, err := http.Get(base + "/stats"); err == nil {
			res.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the server did not start")
}

// PeakRSS returns the peak resident memory of process pid (VmHWM), in
// KiB; 0 when /proc does not tell.
func PeakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
