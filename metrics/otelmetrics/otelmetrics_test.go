package otelmetrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/crumbs-go/session/metrics"
	"github.com/crumbs-go/session/metrics/metricstest"
)

// newRecorder is a Recorder over an SDK meter provider with an in-memory
// reader.
func newRecorder(t *testing.T) (*Recorder, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	rec, err := New(mp)
	if err != nil {
		t.Fatal(err)
	}
	return rec, reader
}

// TestRecorder: after real requests through a Manager, the SDK's
// in-memory reader holds what they did.
func TestRecorder(t *testing.T) {
	rec, reader := newRecorder(t)
	metricstest.Drive(t, rec, "set", "read", "set", "destroy")
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != scope {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			found[m.Name] = m
		}
	}
	sum := func(name string, kv attribute.KeyValue) int64 {
		t.Helper()
		m, ok := found[name]
		if !ok {
			t.Fatalf("no metric %s among %d", name, len(found))
		}
		var n int64
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			if v, ok := dp.Attributes.Value(kv.Key); ok && v == kv.Value {
				n += dp.Value
			}
		}
		return n
	}
	if n := sum("crumbs.session.loads", attribute.String("crumbs.session.outcome", "loaded")); n != 3 {
		t.Errorf("loads loaded = %d, want 3", n)
	}
	if n := sum("crumbs.session.commits", attribute.String("crumbs.session.operation", "created")); n != 1 {
		t.Errorf("commits created = %d, want 1", n)
	}
	if n := sum("crumbs.session.commits", attribute.String("crumbs.session.operation", "destroyed")); n != 1 {
		t.Errorf("commits destroyed = %d, want 1", n)
	}
	tok := found["crumbs.session.token.size"]
	if tok.Unit != "By" || tok.Data.(metricdata.Histogram[int64]).DataPoints[0].Count != 2 {
		t.Errorf("token size: %+v", tok)
	}
	dur := found["crumbs.store.operation.duration"]
	if dur.Unit != "s" || len(dur.Data.(metricdata.Histogram[float64]).DataPoints) < 3 { // load, save, delete
		t.Errorf("store durations: %+v", dur)
	}
}

// TestRecorderValues: each event lands in its own instrument, with its
// attributes and values.
func TestRecorderValues(t *testing.T) {
	rec, reader := newRecorder(t)
	ctx := context.Background()
	rec.Load(ctx, metrics.Refused, metrics.Expired)
	rec.Commit(ctx, metrics.Created, metrics.Sizes{TokenBytes: 100, Cookies: 2, RecordBytes: 30})
	rec.Conflict(ctx, 3, false)
	rec.Backend(ctx, metrics.BackendSave, 2*time.Millisecond, errors.New("down"))
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					got[m.Name+" "+dp.Attributes.Encoded(attribute.DefaultEncoder())] = float64(dp.Value)
				}
			case metricdata.Histogram[int64]:
				for _, dp := range d.DataPoints {
					got[m.Name+" sum"] = float64(dp.Sum)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					got[m.Name+" "+dp.Attributes.Encoded(attribute.DefaultEncoder())] = dp.Sum
				}
			}
		}
	}
	for key, want := range map[string]float64{
		"crumbs.session.loads crumbs.session.outcome=refused,crumbs.session.refusal=expired": 1,
		"crumbs.session.commits crumbs.session.operation=created":                            1,
		"crumbs.session.token.size sum":                                                      100,
		"crumbs.session.record.size sum":                                                     30,
		"crumbs.session.cookies sum":                                                         2,
		"crumbs.session.update.conflicts crumbs.session.conflict.result=timeout":             1,
		"crumbs.session.update.retries ":                                                     3,
		"crumbs.store.operation.duration crumbs.store.operation=save,error.type=backend":     0.002,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (have %v)", key, got[key], want, got)
		}
	}
}
