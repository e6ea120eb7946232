package metrics

import (
	"net/http"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// Metrics records what the daemon loop does. A nil *Metrics records
// nothing. Its methods are safe for concurrent use.
type Metrics struct {
	syncDuration  *prometheus.HistogramVec
	runs          *prometheus.CounterVec
	lastSuccess   *prometheus.GaugeVec
	drift         *prometheus.GaugeVec
	revision      *prometheus.GaugeVec
	fetchFailures prometheus.Counter
	changes       *prometheus.CounterVec
	stateFailures prometheus.Counter
	repairs       prometheus.Counter

	// mu makes the reset and set of the revision series one step, so a
	// scrape never sees two revisions or none.
	mu sync.Mutex
}

// Change results in k3sync_changes_applied_total.
const (
	ResultOK    = "ok"
	ResultError = "error"
)

// New creates the k3sync metrics and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "k3sync_sync_duration_seconds",
			Help: "Duration of a tenant's sync run, from plan to the last change applied.",
			// A no-op run takes well under a second; a large tenant waiting
			// on rollouts and many Kafka partitions takes minutes.
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"tenant", "result"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "k3sync_sync_runs_total",
			Help: "Sync runs recorded, by tenant, trigger and result.",
		}, []string{"tenant", "trigger", "result"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "k3sync_last_success_timestamp_seconds",
			Help: "Unix time the tenant's last synced run finished.",
		}, []string{"tenant"}),
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "k3sync_drift_resources",
			Help: "Resources whose live state drifted from what k3sync applied, at the last drift check.",
		}, []string{"tenant", "system"}),
		revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "k3sync_last_revision_info",
			Help: "The newest revision seen in the platform repo (value always 1).",
		}, []string{"revision"}),
		fetchFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "k3sync_source_fetch_failures_total",
			Help: "Failed fetches of the platform repo.",
		}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "k3sync_changes_applied_total",
			Help: "Changes k3sync tried to apply, by system, action and result (ok or error).",
		}, []string{"system", "action", "result"}),
		stateFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "k3sync_state_write_failures_total",
			Help: "Sync runs the state store could not record; each fails its tenant's run, which is retried.",
		}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "k3sync_source_reclones_total",
			Help: "Times the clone of the platform repo was found corrupt and cloned again.",
		}),
	}
	reg.MustRegister(m.syncDuration, m.runs, m.lastSuccess, m.drift, m.revision, m.fetchFailures, m.changes, m.stateFailures, m.repairs)
	return m
}

// ObserveRun records a finished run: its duration, its count and, when it
// synced, its time.
func (m *Metrics) ObserveRun(r state.Run) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(r.Tenant, string(r.Trigger), string(r.Result)).Inc()
	if !r.Started.IsZero() && !r.Finished.IsZero() {
		if d := r.Finished.Sub(r.Started); d >= 0 {
			m.syncDuration.WithLabelValues(r.Tenant, string(r.Result)).Observe(d.Seconds())
		}
	}
	if r.Result == state.ResultSynced && !r.Finished.IsZero() {
		m.lastSuccess.WithLabelValues(r.Tenant).Set(float64(r.Finished.UnixMilli()) / 1e3)
	}
}

// SetDrift sets the tenant's drifted resources per system. Every known
// system gets a value, 0 when missing from perSystem, so drift that went
// away shows as 0 rather than as the last value seen.
func (m *Metrics) SetDrift(tenant string, perSystem map[plan.System]int) {
	if m == nil {
		return
	}
	for _, sys := range plan.Systems {
		m.drift.WithLabelValues(tenant, string(sys)).Set(float64(perSystem[sys]))
	}
	for sys, n := range perSystem {
		if !slices.Contains(plan.Systems, sys) {
			m.drift.WithLabelValues(tenant, string(sys)).Set(float64(n))
		}
	}
}

// RemoveTenant drops every series of a tenant that left the repo.
func (m *Metrics) RemoveTenant(tenant string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"tenant": tenant}
	m.syncDuration.DeletePartialMatch(l)
	m.runs.DeletePartialMatch(l)
	m.lastSuccess.DeletePartialMatch(l)
	m.drift.DeletePartialMatch(l)
}

// SetRevision makes hash the only k3sync_last_revision_info series.
func (m *Metrics) SetRevision(hash string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revision.Reset()
	m.revision.WithLabelValues(hash).Set(1)
}

// FetchFailed counts a failed fetch of the platform repo.
func (m *Metrics) FetchFailed() {
	if m == nil {
		return
	}
	m.fetchFailures.Inc()
}

// StateWriteFailed counts a run the state store could not record.
func (m *Metrics) StateWriteFailed() {
	if m == nil {
		return
	}
	m.stateFailures.Inc()
}

// SourceRecloned counts a corrupt clone cloned again.
func (m *Metrics) SourceRecloned() {
	if m == nil {
		return
	}
	m.repairs.Inc()
}

// ObserveResults counts applied changes by system, action and result.
func (m *Metrics) ObserveResults(results []plan.Result) {
	if m == nil {
		return
	}
	for _, r := range results {
		result := ResultOK
		if r.Err != nil || r.Error != "" {
			result = ResultError
		}
		m.changes.WithLabelValues(string(r.System), string(r.Action), result).Inc()
	}
}

// NewRegistry returns a registry with the Go runtime and process
// collectors, for New and Handler.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the metrics of g in the Prometheus exposition format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		// A collector failing must not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
	})
}
