package reconcile

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/k3sync/k3sync/internal/metrics"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// refusingJournal fails every run write while broken, and counts them.
type refusingJournal struct {
	state.Journal
	mu      sync.Mutex
	broken  bool
	refused int
}

func (j *refusingJournal) AddRun(ctx context.Context, run state.Run) error {
	j.mu.Lock()
	if j.broken {
		j.refused++
		j.mu.Unlock()
		return errors.New("state: run of a: save: database is read-only")
	}
	j.mu.Unlock()
	return j.Journal.AddRun(ctx, run) //nolint:wrapcheck // a test double
}

func (j *refusingJournal) set(broken bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.broken = broken
}

func (j *refusingJournal) refusals() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.refused
}

// counterValue reads a counter from a registry.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestUnrecordedRunFailsAndIsRetried: a run whose applied changes the
// state store cannot record fails visibly (the tenant shows failed, saying
// the state could not be recorded; the metric counts it), is retried on
// the retry schedule, and once writes work again the runs are recorded as
// they were and the tenant converges to synced without applying twice.
func TestUnrecordedRunFailsAndIsRetried(t *testing.T) {
	eng := &flaky{done: make(chan struct{})}
	j := &refusingJournal{Journal: state.NewMemory(), broken: true}
	reg := prometheus.NewRegistry()
	r := New(oneCommit{tenantRepo("")}, eng, j, Options{RetryMin: 20 * time.Millisecond, Interval: time.Hour, Metrics: metrics.New(reg)})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = r.Start(ctx) }()

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	// The first run applies and cannot be recorded; a retry tries again.
	waitFor("a retry of the unrecorded run", func() bool { return j.refusals() >= 2 })
	o, err := r.Overview(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Tenants) != 1 || o.Tenants[0].State != view.Failed || !strings.Contains(o.Tenants[0].Note, "the state could not be recorded: state: run of a: save: database is read-only") {
		t.Fatalf("while the state store refuses writes, the overview shows %+v; want a failed, saying why", o.Tenants)
	}
	if n := counterValue(t, reg, "k3sync_state_write_failures_total"); n < 2 {
		t.Errorf("k3sync_state_write_failures_total = %v after %d refusals", n, j.refusals())
	}

	// The retry that finds writes working records the runs kept, one by
	// one, then itself; the tenant shows synced once all are recorded.
	j.set(false)
	waitFor("the runs recorded", func() bool {
		o, err := r.Overview(t.Context())
		return err == nil && len(o.Tenants) == 1 && o.Tenants[0].State == view.Synced
	})
	cancel()
	runs, err := j.Runs(t.Context(), "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: the retry that found writes working, then the runs
	// that could not be recorded, as they were, back to the first.
	got := describe(runs)
	if n := len(runs); n < 3 || runs[0].Trigger != state.TriggerRetry || runs[n-1].Trigger != state.TriggerStartup || len(runs[n-1].Changes) != 1 {
		t.Errorf("once writes work, the runs recorded are %q; want the startup run with its change, then the retries", got)
	}
	for i, run := range runs {
		if run.Result != state.ResultSynced {
			t.Errorf("run %d recorded as %q; want each as it was (synced)", i, got[i])
		}
	}
	o, err = r.Overview(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if o.Tenants[0].State != view.Synced || o.Tenants[0].Note != "" {
		t.Errorf("once recorded, a is %s (%q); want synced", o.Tenants[0].State, o.Tenants[0].Note)
	}
	r.mu.Lock()
	attempts := r.attempts["a"]
	r.mu.Unlock()
	if attempts != 0 {
		t.Errorf("%d retry attempts left after the run was recorded", attempts)
	}
	eng.mu.Lock()
	applied := eng.applied
	eng.mu.Unlock()
	if applied != 1 {
		t.Errorf("the change was applied %d times; want once (the retries only record)", applied)
	}
}
