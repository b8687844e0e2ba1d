// Package otelmetrics records a session.Manager's metrics (package
// metrics) as OpenTelemetry instruments, named after OpenTelemetry's
// conventions (dotted names, UCUM units, error.type on failures):
//
//	crumbs.session.loads              counter {load}     crumbs.session.outcome, crumbs.session.refusal
//	crumbs.session.commits            counter {commit}   crumbs.session.operation
//	crumbs.session.token.size         histogram By       a commit's cookies (names and values) or header token
//	crumbs.session.cookies            histogram {cookie} cookies per commit
//	crumbs.session.record.size        histogram By       the encoded session data
//	crumbs.session.update.conflicts   counter {commit}   crumbs.session.conflict.result (ok, timeout)
//	crumbs.session.update.retries     counter {retry}
//	crumbs.store.operation.duration   histogram s        crumbs.store.operation, error.type
//
// Use it with session.WithMetrics:
//
//	rec, err := otelmetrics.New(otel.GetMeterProvider())
//	m, err := session.New(store, session.WithMetrics(rec))
package otelmetrics

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/crumbs-go/session/metrics"
)

// scope is the instrumentation scope's name: this package, which records.
const scope = "github.com/crumbs-go/session/metrics/otelmetrics"

// A Recorder is a metrics.Recorder over OpenTelemetry instruments.
type Recorder struct {
	loads, commits, conflicts, retries metric.Int64Counter
	token, cookies, record             metric.Int64Histogram
	backend                            metric.Float64Histogram
}

var _ metrics.Recorder = (*Recorder)(nil)

// New creates the instruments with a meter of mp and returns their
// Recorder.
func New(mp metric.MeterProvider) (*Recorder, error) {
	m := mp.Meter(scope)
	r := &Recorder{}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, unit, desc string, bounds ...float64) metric.Int64Histogram {
		h, err := m.Int64Histogram(name, metric.WithUnit(unit), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(bounds...))
		errs = append(errs, err)
		return h
	}
	sizes := []float64{64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768}
	r.loads = counter("crumbs.session.loads", "{load}", "Sessions read by requests, by outcome and refusal reason.")
	r.commits = counter("crumbs.session.commits", "{commit}", "Sessions written or ended, by operation.")
	r.conflicts = counter("crumbs.session.update.conflicts", "{commit}", "Commits whose Update functions re-ran after parallel changes.")
	r.retries = counter("crumbs.session.update.retries", "{retry}", "Re-runs of Update functions after parallel changes.")
	r.token = histogram("crumbs.session.token.size", "By", "Bytes of the token a commit sent: its cookies' names and values, or the header token.", sizes...)
	r.cookies = histogram("crumbs.session.cookies", "{cookie}", "Cookies a commit's token took.", 1, 2, 3, 4, 6, 8, 16)
	r.record = histogram("crumbs.session.record.size", "By", "Bytes of the encoded session data a commit sealed or stored.", sizes...)
	var err error
	r.backend, err = m.Float64Histogram("crumbs.store.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the session store's calls."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Load counts a read.
func (r *Recorder) Load(ctx context.Context, o metrics.Outcome, reason metrics.Reason) {
	attrs := []attribute.KeyValue{attribute.String("crumbs.session.outcome", string(o))}
	if reason != "" {
		attrs = append(attrs, attribute.String("crumbs.session.refusal", string(reason)))
	}
	r.loads.Add(ctx, 1, metric.WithAttributes(attrs...))
}

// Commit counts a commit and records its sizes.
func (r *Recorder) Commit(ctx context.Context, op metrics.Op, s metrics.Sizes) {
	r.commits.Add(ctx, 1, metric.WithAttributes(attribute.String("crumbs.session.operation", string(op))))
	if op == metrics.Destroyed {
		return
	}
	r.token.Record(ctx, int64(s.TokenBytes))
	r.cookies.Record(ctx, int64(s.Cookies))
	r.record.Record(ctx, int64(s.RecordBytes))
}

// Conflict counts a commit whose Updates re-ran, and the re-runs.
func (r *Recorder) Conflict(ctx context.Context, retries int, ok bool) {
	result := "ok"
	if !ok {
		result = "timeout"
	}
	r.conflicts.Add(ctx, 1, metric.WithAttributes(attribute.String("crumbs.session.conflict.result", result)))
	r.retries.Add(ctx, int64(retries))
}

// Backend records a store call's duration; a failed call carries
// error.type "backend".
func (r *Recorder) Backend(ctx context.Context, op metrics.BackendOp, d time.Duration, err error) {
	attrs := []attribute.KeyValue{attribute.String("crumbs.store.operation", string(op))}
	if err != nil {
		attrs = append(attrs, attribute.String("error.type", "backend"))
	}
	r.backend.Record(ctx, d.Seconds(), metric.WithAttributes(attrs...))
}
