package state

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/plan"
)

// reopener returns the journal on the same data again, as a restarted
// process (or another replica) would open it.
type reopener func(t *testing.T) Journal

// journals are the local backends, each with its reopener: the memory
// store is its own, a bolt file is closed and opened again.
func journals(t *testing.T) map[string]reopener {
	path := filepath.Join(t.TempDir(), "state.db")
	var b *Bolt
	openBolt := func(t *testing.T) Journal {
		t.Helper()
		if b != nil {
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if b, err = OpenBolt(path, time.Second); err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Cleanup(func() {
		if b != nil {
			_ = b.Close()
		}
	})
	m := NewMemory()
	return map[string]reopener{"memory": func(*testing.T) Journal { return m }, "bolt": openBolt}
}

func TestJournal(t *testing.T) {
	for name, open := range journals(t) {
		t.Run(name, func(t *testing.T) { checkJournal(t, open(t), "", open) })
	}
}

// checkJournal runs the journal contract on j with tenants whose names
// start with prefix, on a journal that has no runs or drift yet; reopen
// returns the journal on the same data, as after a restart (j is not used
// after it).
func checkJournal(t *testing.T, j Journal, prefix string, reopen reopener) {
	t.Helper()
	ctx := t.Context()
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	payments, search, checkout := prefix+"payments", prefix+"search", prefix+"checkout"
	add := func(id, tenant, rev string, res Result, at time.Time) {
		t.Helper()
		if err := j.AddRun(ctx, Run{ID: id, Tenant: tenant, Revision: rev, Result: res, Started: at, Finished: at.Add(time.Second),
			Changes: []plan.Result{{Change: plan.Change{Action: plan.Create}, Error: "boom"}}}); err != nil {
			t.Fatal(err)
		}
	}
	add("0001", payments, "aaa", ResultSynced, t0)
	add("0002", payments, "bbb", ResultFailed, t0.Add(time.Minute))
	add("0003", search, "bbb", ResultSynced, t0.Add(2*time.Minute))

	st, err := j.Statuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Tenant != payments || st[0].Revision != "aaa" || st[0].LastRun.Result != ResultFailed {
		t.Fatalf("a failed run must not move the synced revision: %+v", st)
	}
	// One tenant's status, read alone, is what Statuses says of it.
	for _, want := range st {
		got, err := j.Status(ctx, want.Tenant)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Status(%s) (-Statuses +Status):\n%s", want.Tenant, diff)
		}
	}
	if got, err := j.Status(ctx, checkout); err != nil || got.LastRun != nil || got.Revision != "" || got.Suspension != nil {
		t.Errorf("Status(%s) of a tenant without runs: %+v, %v", checkout, got, err)
	}
	runs, err := j.Runs(ctx, payments, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != "0002" || runs[0].Changes[0].Error != "boom" {
		t.Fatalf("payments runs, newest first: %+v", runs)
	}
	all, _ := j.Runs(ctx, "", 2)
	if len(all) != 2 || all[0].ID != "0003" {
		t.Fatalf("all runs limited to 2: %+v", all)
	}
	for i := range MaxRunsPerTenant + 5 {
		add(fmt.Sprintf("1%04d", i), checkout, "ccc", ResultSynced, t0.Add(time.Duration(i)*time.Second))
	}
	runs, _ = j.Runs(ctx, checkout, 0)
	if len(runs) != MaxRunsPerTenant || runs[len(runs)-1].ID != "10005" {
		t.Fatalf("history not trimmed to the newest %d: %d runs, oldest %s", MaxRunsPerTenant, len(runs), runs[len(runs)-1].ID)
	}
	if err := j.SaveDrift(ctx, Drift{Tenant: search, CheckedAt: t0, Items: []DriftItem{{FirstSeen: t0}}}); err != nil {
		t.Fatal(err)
	}
	ds, err := j.Drifts(ctx)
	if err != nil || len(ds) != 1 || !ds[0].Items[0].FirstSeen.Equal(t0) {
		t.Fatalf("drift: %+v %v", ds, err)
	}

	// An operator suspends payments, whose last run failed, and a tenant
	// that never ran: each gets its suspension and a history entry, and
	// keeps its sync status.
	analytics := prefix + "analytics"
	t1 := t0.Add(time.Hour)
	for _, s := range []Suspension{
		{Tenant: payments, Suspended: true, Who: "alice", At: t1, ID: "2001", Revision: "bbb"},
		{Tenant: analytics, Suspended: true, Who: "alice", At: t1, ID: "2002", Revision: "bbb"},
	} {
		if err := j.SetSuspension(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	j = reopen(t)
	status := func(tenant string) TenantStatus {
		t.Helper()
		st, err := j.Statuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st {
			if s.Tenant == tenant {
				return s
			}
		}
		t.Fatalf("no status of %s in %+v", tenant, st)
		return TenantStatus{}
	}
	if s := status(payments); s.Suspension == nil || !s.Suspension.Suspended || s.Suspension.Who != "alice" || !s.Suspension.At.Equal(t1) ||
		s.Revision != "aaa" || s.LastRun == nil || s.LastRun.ID != "0002" || s.LastRun.Result != ResultFailed {
		t.Fatalf("payments after its suspension, reopened: %+v; want suspended by alice, still at aaa with the failed run 0002 as its last", s)
	}
	if s := status(analytics); s.Suspension == nil || !s.Suspension.Suspended || s.LastRun != nil || s.Revision != "" {
		t.Fatalf("a tenant suspended before any run: %+v; want suspended, no run, no revision", s)
	}
	runs, err = j.Runs(ctx, payments, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := Run{ID: "2001", Tenant: payments, Revision: "bbb", Trigger: TriggerOperator, Who: "alice", Started: t1, Finished: t1, Message: "suspended by alice"}
	if diff := cmp.Diff([]Run{want}, runs); diff != "" {
		t.Fatalf("payments history after the suspension (-want +got):\n%s", diff)
	}

	// Runs after it keep the suspension; bob resumes and it says so.
	add("3001", payments, "ccc", ResultSynced, t1.Add(time.Minute))
	if s := status(payments); s.Suspension == nil || !s.Suspension.Suspended || s.Revision != "ccc" {
		t.Fatalf("a run after the suspension: %+v; want at ccc, still suspended", s)
	}
	if err := j.SetSuspension(ctx, Suspension{Tenant: payments, Who: "bob", At: t1.Add(2 * time.Minute), ID: "3002", Revision: "ccc"}); err != nil {
		t.Fatal(err)
	}
	j = reopen(t)
	if s := status(payments); s.Suspension == nil || s.Suspension.Suspended || s.Suspension.Who != "bob" || s.LastRun.ID != "3001" {
		t.Fatalf("payments after bob's resume, reopened: %+v; want resumed by bob, last run 3001", s)
	}
	runs, _ = j.Runs(ctx, payments, 0)
	var got []string
	for _, r := range runs {
		got = append(got, r.ID+" "+string(r.Trigger)+" "+r.Message)
	}
	if len(got) != 5 || got[0] != "3002 operator resumed by bob" || got[2] != "2001 operator suspended by alice" {
		t.Fatalf("payments history, newest first: %q", got)
	}

	// The reconciler records many tenants' runs at once, each tenant's in
	// order: every run is kept, and each tenant's status is its last run.
	const many, each = 24, 3
	var wg sync.WaitGroup
	errs := make(chan error, many*each)
	for i := range many {
		tenant := fmt.Sprintf("%sc%02d", prefix, i)
		wg.Go(func() {
			for n := range each {
				at := t1.Add(time.Duration(n) * time.Minute)
				rev := fmt.Sprintf("rev%d", n)
				if err := j.AddRun(ctx, Run{ID: fmt.Sprintf("4%02d%d", i, n), Tenant: tenant, Revision: rev, Result: ResultSynced, Started: at, Finished: at}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("runs added at once: %v", err)
	}
	j = reopen(t)
	for i := range many {
		tenant := fmt.Sprintf("%sc%02d", prefix, i)
		if s := status(tenant); s.Revision != fmt.Sprintf("rev%d", each-1) || s.LastRun == nil || s.LastRun.ID != fmt.Sprintf("4%02d%d", i, each-1) {
			t.Errorf("%s after %d runs added beside other tenants': %+v; want at rev%d with its last run", tenant, each, s, each-1)
		}
		if runs, err := j.Runs(ctx, tenant, 0); err != nil || len(runs) != each {
			t.Errorf("%s history: %d runs, %v; want %d", tenant, len(runs), err, each)
		}
	}
}
