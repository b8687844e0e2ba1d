package prommetrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crumbs-go/session/metrics/metricstest"
)

// TestRecorder: after real requests through a Manager, the registry holds
// what they did, and its names pass Prometheus' linter.
func TestRecorder(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	metricstest.Drive(t, rec, "set", "read", "set", "destroy", "read", "forged")

	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(rec.loads.WithLabelValues("new", "")), 2, "loads new"}, // the first and the one after destroy
		{testutil.ToFloat64(rec.loads.WithLabelValues("loaded", "")), 3, "loads loaded"},
		{testutil.ToFloat64(rec.loads.WithLabelValues("refused", "malformed")), 1, "loads refused malformed"},
		{testutil.ToFloat64(rec.commits.WithLabelValues("created")), 1, "commits created"},
		{testutil.ToFloat64(rec.commits.WithLabelValues("saved")), 1, "commits saved"},
		{testutil.ToFloat64(rec.commits.WithLabelValues("destroyed")), 1, "commits destroyed"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(rec.backend); n < 2 {
		t.Errorf("store durations: %d series, want load and save at least", n)
	}
	if n := testutil.CollectAndCount(rec.token); n != 1 {
		t.Errorf("token sizes: %d series", n)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
	if _, err := New(reg); err == nil {
		t.Fatal("a second Recorder on one registry was accepted")
	}
}
