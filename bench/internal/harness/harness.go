// Package harness is what the HTTP load harness (bench/loadtest), the
// fault scripts (bench/faults) and the hostile-traffic run (bench/hostile)
// share: building and starting bench/loadserver, and reading a process's
// peak memory.
package harness

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

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
