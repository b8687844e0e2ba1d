// Package probe holds what the cold-start probes share.
package probe

import (
	"os"
	"strings"
)

// PeakRSS is this process's high-water resident set (VmHWM), in KiB, as
// text. The parent's rusage would count the pre-exec copy of the parent too.
func PeakRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSuffix(strings.TrimSpace(v), " kB")
		}
	}
	return "0"
}
