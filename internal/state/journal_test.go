package state

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/plan"
)

type journalStore interface {
	Store
	Journal
}

func journals(t *testing.T) map[string]journalStore {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return map[string]journalStore{"memory": NewMemory(), "bolt": b}
}

func TestJournal(t *testing.T) {
	for name, j := range journals(t) {
		t.Run(name, func(t *testing.T) { checkJournal(t, j, "") })
	}
}

// checkJournal runs the journal contract on j with tenants whose names
// start with prefix, on a journal that has no runs or drift yet.
func checkJournal(t *testing.T, j Journal, prefix string) {
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
}
