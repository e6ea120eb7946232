package reconcile

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// pending always plans one change for tenant a (a Namespace to create)
// and counts the applies, which all succeed.
type pending struct {
	mu      sync.Mutex
	applied int
}

var pendingChange = plan.Change{Key: plan.Key{Tenant: "a", System: plan.Kubernetes, Target: "x", Kind: "Namespace", Name: "a"}, Action: plan.Create}

func (e *pending) Plan(context.Context, plan.Request) *plan.Plan {
	return &plan.Plan{Changes: []plan.Change{pendingChange}}
}

func (e *pending) Apply(context.Context, plan.Request, plan.ApplyOptions) *apply.Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.applied++
	return &apply.Report{Results: []plan.Result{{Change: pendingChange}}}
}

func (e *pending) applies() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.applied
}

// tenantRepo is a platform repo with tenant a; policies is its
// policies block ("" for none).
func tenantRepo(policies string) fstest.MapFS {
	return fstest.MapFS{
		"platform.cue":         {Data: []byte("package k3sync\n\nclusters: x: {region: \"r\", capacity: {cpu: \"1\", memory: \"1Gi\", pods: 10}}\nkafka: {}\ngateways: {}\npolicy: {}\n")},
		"tenants/a/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"a\"]\n" + policies)},
	}
}

// syncNow runs a manual sync of tenant a on the caller's goroutine, as
// the worker would, and returns its runs.
func syncNow(t *testing.T, r *Reconciler, who string) []state.Run {
	t.Helper()
	s, err := r.Trigger(t.Context(), view.TriggerRequest{Tenant: "a", Who: who})
	if err != nil {
		t.Fatal(err)
	}
	j := <-r.work
	r.runSync(t.Context(), j.sync)
	got, err := r.Sync(t.Context(), s.ID)
	if err != nil || got.Phase != view.Done {
		t.Fatalf("sync %s: %+v %v", s.ID, got, err)
	}
	return got.Runs
}

// TestSuspensionSurvivesRestart: an operator's suspension is recorded in
// the journal, so a new reconciler on the same state file (a restart, or
// a replica that just took the Lease) still plans the tenant's changes
// without applying them, says who suspended it, and shows the suspension
// in the history; a resume lets it apply again.
func TestSuspensionSurvivesRestart(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	open := func() *state.Bolt {
		t.Helper()
		b, err := state.OpenBolt(path, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	eng := &pending{}
	repo := tenantRepo("")

	journal := open()
	r := New(oneCommit{repo}, eng, journal, Options{Interval: time.Hour})
	r.PollOnce(ctx)
	if eng.applies() != 1 {
		t.Fatalf("%d applies before the suspension, want 1", eng.applies())
	}
	if err := r.Suspend(ctx, "a", true, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := r.Suspend(ctx, "nobody", true, "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("suspending an unknown tenant: %v, want ErrNotFound", err)
	}

	// Restart: the process ends, a new one opens the same file.
	if err := journal.Close(); err != nil {
		t.Fatal(err)
	}
	journal = open()
	r = New(oneCommit{repo}, eng, journal, Options{Interval: time.Hour})
	r.PollOnce(ctx)
	if eng.applies() != 1 {
		t.Fatalf("the restarted reconciler applied a suspended tenant (%d applies)", eng.applies())
	}
	blocked := "tenant is suspended by alice: changes are planned, not applied"
	history, err := r.History(ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(history); len(got) != 3 ||
		got[0] != "poll blocked "+blocked ||
		got[1] != "operator alice suspended by alice" ||
		got[2] != "poll synced " {
		t.Fatalf("history after the restart, newest first:\n%q", got)
	}
	if p, _ := r.Plans(ctx); p["a"] == nil || len(p["a"].Changes) != 1 {
		t.Errorf("the suspended tenant's changes are not planned: %+v", p["a"])
	}
	o, err := r.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Tenants) != 1 || !o.Tenants[0].Suspended || o.Tenants[0].State != view.Suspended {
		t.Fatalf("overview after the restart: %+v, want a suspended", o.Tenants)
	}
	page, err := r.Tenant(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !page.Suspended || len(page.History) != 3 || page.History[1].Who != "alice" || page.History[1].Result != "" {
		t.Fatalf("tenant page after the restart: suspended %v, history %q", page.Suspended, describe(page.History))
	}
	// A manual sync of a suspended tenant is blocked as well.
	if runs := syncNow(t, r, "carol"); len(runs) != 1 || runs[0].Result != state.ResultBlocked || runs[0].Message != blocked {
		t.Fatalf("manual sync of the suspended tenant: %+v", runs)
	}

	// Bob resumes: the next sync applies, and the history says who
	// resumed it. The suspension entries never made a or its revision
	// look synced or failed: its status comes from its runs alone.
	if err := r.Suspend(ctx, "a", false, "bob"); err != nil {
		t.Fatal(err)
	}
	st, _ := journal.Statuses(ctx)
	if len(st) != 1 || st[0].LastRun == nil || st[0].LastRun.Result != state.ResultBlocked || st[0].Suspension == nil || st[0].Suspension.Who != "bob" {
		t.Fatalf("status after the resume: %+v; want the blocked run last, resumed by bob", st)
	}
	if runs := syncNow(t, r, "bob"); len(runs) != 1 || runs[0].Result != state.ResultSynced || eng.applies() != 2 {
		t.Fatalf("sync after the resume: %+v, %d applies; want synced, applied", runs, eng.applies())
	}
	history, _ = r.History(ctx, "a", 2)
	if got := describe(history); len(got) != 2 || got[0] != "manual bob synced " || got[1] != "operator bob resumed by bob" {
		t.Fatalf("history after the resume, newest first:\n%q", got)
	}
	if o, _ := r.Overview(ctx); o.Tenants[0].Suspended {
		t.Errorf("overview after the resume: %+v, want not suspended", o.Tenants[0])
	}
}

// describe is each run as "trigger [who] result message".
func describe(runs []state.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		s := string(r.Trigger) + " "
		if r.Who != "" {
			s += r.Who + " "
		}
		if r.Result != "" {
			s += string(r.Result) + " "
		}
		out[i] = s + r.Message
	}
	return out
}

// TestResumeOverridesGit: an operator's resume wins over policies.suspend
// in Git, as a suspension does over a tenant Git does not suspend.
func TestResumeOverridesGit(t *testing.T) {
	ctx := t.Context()
	eng := &pending{}
	r := New(oneCommit{tenantRepo("policies: suspend: true\n")}, eng, state.NewMemory(), Options{Interval: time.Hour})
	r.PollOnce(ctx)
	if eng.applies() != 0 {
		t.Fatal("a tenant suspended in Git was applied")
	}
	if h, _ := r.History(ctx, "a", 1); len(h) != 1 || h[0].Message != "tenant is suspended: changes are planned, not applied" {
		t.Fatalf("blocked by Git's suspend: %q", describe(h))
	}
	if err := r.Suspend(ctx, "a", false, "alice"); err != nil {
		t.Fatal(err)
	}
	if runs := syncNow(t, r, "alice"); len(runs) != 1 || runs[0].Result != state.ResultSynced || eng.applies() != 1 {
		t.Fatalf("sync after the operator's resume: %+v, %d applies", runs, eng.applies())
	}
}

// brokenJournal fails the writes of suspensions, or every read of the
// tenants' statuses.
type brokenJournal struct {
	state.Journal
	setFails, statusFails bool
}

func (b *brokenJournal) SetSuspension(ctx context.Context, s state.Suspension) error {
	if b.setFails {
		return errors.New("state: suspension of a: save: not the leader")
	}
	return b.Journal.SetSuspension(ctx, s) //nolint:wrapcheck // a test double
}

func (b *brokenJournal) Statuses(ctx context.Context) ([]state.TenantStatus, error) {
	if b.statusFails {
		return nil, errors.New("apiserver unavailable")
	}
	return b.Journal.Statuses(ctx) //nolint:wrapcheck // a test double
}

func (b *brokenJournal) Status(ctx context.Context, tenant string) (state.TenantStatus, error) {
	if b.statusFails {
		return state.TenantStatus{}, errors.New("apiserver unavailable")
	}
	return b.Journal.Status(ctx, tenant) //nolint:wrapcheck // a test double
}

// TestSuspensionJournalErrors: a suspension the journal cannot record
// fails (the API answers 500) and changes nothing; a sync that cannot
// read the suspensions applies nothing and fails, to be retried.
func TestSuspensionJournalErrors(t *testing.T) {
	ctx := t.Context()
	eng := &pending{}
	j := &brokenJournal{Journal: state.NewMemory()}
	r := New(oneCommit{tenantRepo("")}, eng, j, Options{Interval: time.Hour, RetryMin: time.Hour})
	r.PollOnce(ctx)

	j.setFails = true
	if err := r.Suspend(ctx, "a", true, "alice"); err == nil {
		t.Fatal("a suspension the journal refused succeeded")
	}
	j.setFails = false
	if runs := syncNow(t, r, "bob"); len(runs) != 1 || runs[0].Result != state.ResultSynced || eng.applies() != 2 {
		t.Fatalf("after a refused suspension the tenant must still apply: %+v, %d applies", runs, eng.applies())
	}

	j.statusFails = true
	runs := syncNow(t, r, "bob")
	j.statusFails = false
	if len(runs) != 1 || runs[0].Result != state.ResultFailed || eng.applies() != 2 {
		t.Fatalf("a sync that cannot read the suspensions: %+v, %d applies; want failed, nothing applied", runs, eng.applies())
	}
	r.mu.Lock()
	attempts := r.attempts["a"]
	r.mu.Unlock()
	if attempts != 1 {
		t.Errorf("the failed sync is not retried: %d attempts", attempts)
	}
}
