// Package prommetrics records a session.Manager's metrics (package
// metrics) into a Prometheus registry:
//
//	crumbs_session_loads_total{outcome, reason}       counter
//	crumbs_session_commits_total{operation}           counter
//	crumbs_session_token_bytes                        histogram: a commit's cookies (names and values) or header token
//	crumbs_session_cookies                            histogram: cookies per commit
//	crumbs_session_record_bytes                       histogram: the encoded session data
//	crumbs_session_update_conflicts_total{result}     counter: commits whose Updates re-ran (result ok or timeout)
//	crumbs_session_update_retries_total               counter: the re-runs
//	crumbs_store_operation_duration_seconds{operation, result}   histogram (result ok or error)
//
// Use it with session.WithMetrics:
//
//	rec, err := prommetrics.New(prometheus.DefaultRegisterer)
//	m, err := session.New(store, session.WithMetrics(rec))
//	http.Handle("/metrics", promhttp.Handler())
package prommetrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crumbs-go/session/metrics"
)

// A Recorder is a metrics.Recorder over Prometheus collectors.
type Recorder struct {
	loads     *prometheus.CounterVec
	commits   *prometheus.CounterVec
	token     prometheus.Histogram
	cookies   prometheus.Histogram
	record    prometheus.Histogram
	conflicts *prometheus.CounterVec
	retries   prometheus.Counter
	backend   *prometheus.HistogramVec
}

var _ metrics.Recorder = (*Recorder)(nil)

// New registers the collectors with reg and returns their Recorder. It
// fails when reg holds collectors of the same names already (a second
// Recorder: share one between Managers, or give each its own registry, or
// wrap reg with prometheus.WrapRegistererWith and a constant label).
func New(reg prometheus.Registerer) (*Recorder, error) {
	sizes := prometheus.ExponentialBuckets(64, 2, 10) // 64 B to 32 KiB
	r := &Recorder{
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "crumbs", Subsystem: "session", Name: "loads_total",
			Help: "Sessions read by requests, by outcome (loaded, new, refused, imported, moved, failed) and refusal reason.",
		}, []string{"outcome", "reason"}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "crumbs", Subsystem: "session", Name: "commits_total",
			Help: "Sessions written or ended, by operation (created, saved, refreshed, regenerated, destroyed).",
		}, []string{"operation"}),
		token: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "crumbs", Subsystem: "session", Name: "token_bytes",
			Help: "Bytes of the token a commit sent: its cookies' names and values, or the header token.", Buckets: sizes,
		}),
		cookies: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "crumbs", Subsystem: "session", Name: "cookies",
			Help: "Cookies a commit's token took.", Buckets: []float64{1, 2, 3, 4, 6, 8, 16},
		}),
		record: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "crumbs", Subsystem: "session", Name: "record_bytes",
			Help: "Bytes of the encoded session data a commit sealed or stored.", Buckets: sizes,
		}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "crumbs", Subsystem: "session", Name: "update_conflicts_total",
			Help: "Commits whose Update functions re-ran after parallel changes, by result (ok, timeout).",
		}, []string{"result"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "crumbs", Subsystem: "session", Name: "update_retries_total",
			Help: "Re-runs of Update functions after parallel changes.",
		}),
		backend: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "crumbs", Subsystem: "store", Name: "operation_duration_seconds",
			Help:    "Duration of the session store's calls, by operation (load, save, retire, delete) and result (ok, error).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9), // 100 µs to 6.5 s
		}, []string{"operation", "result"}),
	}
	for _, c := range []prometheus.Collector{r.loads, r.commits, r.token, r.cookies, r.record, r.conflicts, r.retries, r.backend} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Load counts a read.
func (r *Recorder) Load(_ context.Context, o metrics.Outcome, reason metrics.Reason) {
	r.loads.WithLabelValues(string(o), string(reason)).Inc()
}

// Commit counts a commit and observes its sizes.
func (r *Recorder) Commit(_ context.Context, op metrics.Op, s metrics.Sizes) {
	r.commits.WithLabelValues(string(op)).Inc()
	if op == metrics.Destroyed {
		return
	}
	r.token.Observe(float64(s.TokenBytes))
	r.cookies.Observe(float64(s.Cookies))
	r.record.Observe(float64(s.RecordBytes))
}

// Conflict counts a commit whose Updates re-ran, and the re-runs.
func (r *Recorder) Conflict(_ context.Context, retries int, ok bool) {
	result := "ok"
	if !ok {
		result = "timeout"
	}
	r.conflicts.WithLabelValues(result).Inc()
	r.retries.Add(float64(retries))
}

// Backend observes a store call's duration.
func (r *Recorder) Backend(_ context.Context, op metrics.BackendOp, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	r.backend.WithLabelValues(string(op), result).Observe(d.Seconds())
}
