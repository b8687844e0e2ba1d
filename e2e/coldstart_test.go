package e2e

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestColdStart measures, for crumbs cookie mode and gorilla/sessions, the
// time from process start to the first sealed response (the probe exits
// right after printing it) and the peak RSS (the probe's own VmHWM once the
// response is sealed), over runs alternated in one test. BENCHMARKS.md quotes its log: go test ./e2e -run ColdStart -v
func TestColdStart(t *testing.T) {
	dir := t.TempDir()
	probes := []string{"crumbs", "gorilla"}
	for _, p := range probes {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, p), "./coldstart/"+p).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", p, err, out)
		}
	}
	const runs = 40
	times := map[string][]time.Duration{}
	rss := map[string][]int64{}
	for range runs {
		for _, p := range probes {
			cmd := exec.Command(filepath.Join(dir, p))
			start := time.Now()
			out, err := cmd.Output()
			elapsed := time.Since(start)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			f := strings.Fields(string(out))
			if len(f) != 2 {
				t.Fatalf("%s printed %q", p, out)
			}
			if n, _ := strconv.Atoi(f[0]); n < 100 {
				t.Fatalf("%s printed %q: no sealed cookie", p, out)
			}
			kib, _ := strconv.ParseInt(f[1], 10, 64)
			times[p] = append(times[p], elapsed)
			rss[p] = append(rss[p], kib)
		}
	}
	med := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	medK := func(d []int64) int64 { slices.Sort(d); return d[len(d)/2] }
	for _, p := range probes {
		t.Logf("%-8s median %v to the first sealed response and exit; median peak RSS %d KiB (%d runs)", p, med(times[p]), medK(rss[p]), runs)
	}
	t.Logf("crumbs/gorilla: time %.2f, peak RSS %.2f",
		float64(med(times["crumbs"]))/float64(med(times["gorilla"])), float64(medK(rss["crumbs"]))/float64(medK(rss["gorilla"])))
}
