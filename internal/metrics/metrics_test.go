package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestObserveRun(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.ObserveRun(state.Run{Tenant: "payments", Trigger: state.TriggerPoll, Result: state.ResultSynced, Started: t0, Finished: t0.Add(1500 * time.Millisecond)})
	m.ObserveRun(state.Run{Tenant: "payments", Trigger: state.TriggerManual, Result: state.ResultFailed, Started: t0, Finished: t0.Add(20 * time.Second)})
	m.ObserveRun(state.Run{Tenant: "checkout", Trigger: state.TriggerPoll, Result: state.ResultSynced, Started: t0, Finished: t0.Add(200 * time.Millisecond)})

	want := `
# HELP k3sync_sync_runs_total Sync runs recorded, by tenant, trigger and result.
# TYPE k3sync_sync_runs_total counter
k3sync_sync_runs_total{result="failed",tenant="payments",trigger="manual"} 1
k3sync_sync_runs_total{result="synced",tenant="checkout",trigger="poll"} 1
k3sync_sync_runs_total{result="synced",tenant="payments",trigger="poll"} 1
# HELP k3sync_last_success_timestamp_seconds Unix time the tenant's last synced run finished.
# TYPE k3sync_last_success_timestamp_seconds gauge
k3sync_last_success_timestamp_seconds{tenant="checkout"} 1.7776368002e+09
k3sync_last_success_timestamp_seconds{tenant="payments"} 1.7776368015e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "k3sync_sync_runs_total", "k3sync_last_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.syncDuration); n != 3 {
		t.Errorf("duration series: %d, want 3", n)
	}
	// 1.5s falls in the 2.5 bucket and above, not in the 1s one.
	want = `
# HELP k3sync_sync_duration_seconds Duration of a tenant's sync run, from plan to the last change applied.
# TYPE k3sync_sync_duration_seconds histogram
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="0.1"} 0
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="0.25"} 0
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="0.5"} 0
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="1"} 0
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="2.5"} 1
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="5"} 1
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="10"} 1
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="30"} 1
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="60"} 1
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="120"} 1
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="300"} 1
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="600"} 1
k3sync_sync_duration_seconds_bucket{result="synced",tenant="payments",le="+Inf"} 1
k3sync_sync_duration_seconds_sum{result="synced",tenant="payments"} 1.5
k3sync_sync_duration_seconds_count{result="synced",tenant="payments"} 1
`
	h, err := m.syncDuration.GetMetricWithLabelValues("payments", "synced")
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(prometheus.Collector(h.(prometheus.Histogram)), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestDriftRevisionFetchResults(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.SetDrift("payments", map[plan.System]int{plan.Kafka: 2})
	m.SetDrift("payments", map[plan.System]int{plan.Kong: 1}) // the Kafka drift was reverted
	m.SetRevision("aaaa")
	m.SetRevision("bbbb")
	m.FetchFailed()
	m.FetchFailed()
	m.ObserveResults([]plan.Result{
		{Change: plan.Change{Key: plan.Key{System: plan.Kafka}, Action: plan.Create}},
		{Change: plan.Change{Key: plan.Key{System: plan.Kafka}, Action: plan.Create}},
		{Change: plan.Change{Key: plan.Key{System: plan.Kong}, Action: plan.Update}, Err: errors.New("boom"), Error: "boom"},
		{Change: plan.Change{Key: plan.Key{System: plan.Kubernetes}, Action: plan.Delete}, Error: "decoded from JSON"},
	})

	want := `
# HELP k3sync_drift_resources Resources whose live state drifted from what k3sync applied, at the last drift check.
# TYPE k3sync_drift_resources gauge
k3sync_drift_resources{system="kafka",tenant="payments"} 0
k3sync_drift_resources{system="kong",tenant="payments"} 1
k3sync_drift_resources{system="kubernetes",tenant="payments"} 0
# HELP k3sync_last_revision_info The newest revision seen in the platform repo (value always 1).
# TYPE k3sync_last_revision_info gauge
k3sync_last_revision_info{revision="bbbb"} 1
# HELP k3sync_source_fetch_failures_total Failed fetches of the platform repo.
# TYPE k3sync_source_fetch_failures_total counter
k3sync_source_fetch_failures_total 2
# HELP k3sync_changes_applied_total Changes k3sync tried to apply, by system, action and result (ok or error).
# TYPE k3sync_changes_applied_total counter
k3sync_changes_applied_total{action="create",result="ok",system="kafka"} 2
k3sync_changes_applied_total{action="delete",result="error",system="kubernetes"} 1
k3sync_changes_applied_total{action="update",result="error",system="kong"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"k3sync_drift_resources", "k3sync_last_revision_info", "k3sync_source_fetch_failures_total", "k3sync_changes_applied_total"); err != nil {
		t.Error(err)
	}

	m.ObserveRun(state.Run{Tenant: "payments", Trigger: state.TriggerPoll, Result: state.ResultSynced, Started: t0, Finished: t0})
	m.RemoveTenant("payments")
	for _, name := range []string{"k3sync_drift_resources", "k3sync_sync_runs_total", "k3sync_sync_duration_seconds", "k3sync_last_success_timestamp_seconds"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 0 {
			t.Errorf("%s after RemoveTenant: %d series (%v), want 0", name, n, err)
		}
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ObserveRun(state.Run{})
	m.SetDrift("x", nil)
	m.SetRevision("x")
	m.FetchFailed()
	m.ObserveResults([]plan.Result{{}})
	m.RemoveTenant("x")
}

func TestHandler(t *testing.T) {
	reg := NewRegistry()
	m := New(reg)
	m.ObserveRun(state.Run{Tenant: "payments", Trigger: state.TriggerWebhook, Result: state.ResultSynced, Started: t0, Finished: t0.Add(time.Second)})
	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`k3sync_sync_runs_total{result="synced",tenant="payments",trigger="webhook"} 1`,
		`k3sync_source_fetch_failures_total 0`,
		`go_goroutines `,
		`process_`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
