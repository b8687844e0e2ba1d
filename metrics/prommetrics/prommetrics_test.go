package prommetrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crumbs-go/session/metrics"
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

// TestRecorderValues: each event lands in its own collector, with its
// labels and values.
func TestRecorderValues(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec.Commit(ctx, metrics.Created, metrics.Sizes{TokenBytes: 100, Cookies: 2, RecordBytes: 30})
	rec.Conflict(ctx, 3, false)
	rec.Conflict(ctx, 1, true)
	rec.Backend(ctx, metrics.BackendSave, 2*time.Millisecond, errors.New("down"))
	rec.Backend(ctx, metrics.BackendLoad, time.Millisecond, nil)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[key+" count"] = float64(m.GetHistogram().GetSampleCount())
				got[key+" sum"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	for key, want := range map[string]float64{
		"crumbs_session_token_bytes sum":                                            100,
		"crumbs_session_record_bytes sum":                                           30,
		"crumbs_session_cookies sum":                                                2,
		"crumbs_session_update_conflicts_total result=timeout":                      1,
		"crumbs_session_update_conflicts_total result=ok":                           1,
		"crumbs_session_update_retries_total":                                       4,
		"crumbs_store_operation_duration_seconds operation=save result=error count": 1,
		"crumbs_store_operation_duration_seconds operation=load result=ok count":    1,
		"crumbs_store_operation_duration_seconds operation=save result=error sum":   0.002,
		"crumbs_session_commits_total operation=created":                            1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
}
