package contracttest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/k3sync/k3sync/internal/plan"
)

// testCreate: a new tenant's plan creates exactly what it desires, the
// apply makes all of it, and the next plan is empty.
func testCreate(t *testing.T, s *suite) {
	const n = 3
	tr := s.Tenant("create", n)
	req := s.request(false, tr)
	want := s.allKeys(tr, n)

	changes := s.plan(t, req)
	for _, c := range changes {
		if c.Action != plan.Create {
			t.Errorf("first plan: %s %s, want only creates", c.Action, c.Key)
		}
	}
	sameKeys(t, "first plan's creates", keysOf(changes, plan.Create), want)

	results, err := s.apply(t, req, plan.ApplyOptions{})
	if err != nil {
		t.Errorf("apply: %v", err)
	}
	if len(results) != len(changes) {
		t.Errorf("apply: %d results for %d planned changes:\n%s", len(results), len(changes), describeResults(results))
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("apply: %s %s: %v", r.Action, r.Key, r.Err)
		}
	}
	for _, k := range want {
		if !s.exists(t, k) {
			t.Errorf("after apply: %s does not exist on the peer", k)
		}
		if !s.owns(t, k) {
			t.Errorf("after apply: the inventory does not hold %s (%s)", k, s.InventoryID(k))
		}
	}
	s.converged(t, req, "after apply")
}

// testNoop: applying what is already there sends no write and leaves the
// state store as it was.
func testNoop(t *testing.T, s *suite) {
	tr := s.Tenant("noop", 2)
	req := s.request(false, tr)
	s.mustApply(t, req)

	writes, before := s.Writes(), s.snapshot(t)
	results, err := s.apply(t, req, plan.ApplyOptions{})
	if err != nil {
		t.Errorf("second apply: %v", err)
	}
	for _, r := range results {
		if r.Action != plan.Blocked {
			t.Errorf("second apply: %s %s (%v), want nothing to do", r.Action, r.Key, r.Err)
		}
	}
	if got := s.Writes() - writes; got != 0 {
		t.Errorf("second apply sent %d writes to the peer, want 0", got)
	}
	if after := s.snapshot(t); after != before {
		t.Errorf("second apply changed the state store:\nbefore: %s\nafter:  %s", before, after)
	}
}

// testUpdate: a field changed in Git is one update naming the field; the
// apply makes it and the next plan is empty.
func testUpdate(t *testing.T, s *suite) {
	tr := s.Tenant("update", 2)
	s.mustApply(t, s.request(false, tr))

	changed, k := s.Change(tr, 0)
	req := s.request(false, changed)
	changes := s.plan(t, req)
	if len(changes) != 1 {
		t.Fatalf("plan of one changed field: want exactly one update of %s, got:\n%s", k, describe(changes))
	}
	c := changes[0]
	if c.Key != k || c.Action != plan.Update {
		t.Errorf("plan: %s %s, want update %s", c.Action, c.Key, k)
	}
	if len(c.Fields) == 0 || slices.ContainsFunc(c.Fields, func(f plan.FieldChange) bool { return f.Path == "" }) {
		t.Errorf("update %s: fields %+v, want the changed field's path", c.Key, c.Fields)
	}
	if c.Drift {
		t.Errorf("update %s: a change in Git is not drift", c.Key)
	}
	s.mustApply(t, req)
	s.converged(t, req, "after the update")
}

// testDrift: an out-of-band change is planned as drift and, with the
// tenant's drift policy revert, taken back.
func testDrift(t *testing.T, s *suite) {
	tr := s.Tenant("drift", 2)
	req := s.request(false, tr)
	s.mustApply(t, req)
	before := s.reads(t, s.Keys(tr, 0))

	k := s.Drift(t, tr, 0)
	if got, _ := s.Read(t, k); got == before[k] {
		t.Fatalf("Drift did not change %s on the peer: %s", k, got)
	}
	changes := s.plan(t, req)
	c, ok := changeOf(changes, k)
	switch {
	case !ok:
		t.Fatalf("plan after drift has no change of %s:\n%s", k, describe(changes))
	case c.Action != plan.Update || !c.Drift:
		t.Errorf("plan after drift: %s %s drift=%v, want an update with Drift", c.Action, c.Key, c.Drift)
	}
	if len(changes) != 1 {
		t.Errorf("plan after drift of one object: want one change, got:\n%s", describe(changes))
	}
	s.mustApply(t, req)
	s.unchanged(t, k, before[k], "after reverting drift")
	s.converged(t, req, "after reverting drift")
}

// testDeleteOwned: what the tenant owns and Git no longer has is deleted.
func testDeleteOwned(t *testing.T, s *suite) {
	const n = 3
	tr := s.Tenant("delete", n)
	s.mustApply(t, s.request(false, tr))

	gone := s.Keys(tr, 1)
	req := s.request(false, s.Without(tr, 1))
	changes := s.plan(t, req)
	sameKeys(t, "plan once resource 1 left Git: deletes", keysOf(changes, plan.Delete), gone)
	if len(changes) != len(gone) {
		t.Errorf("plan once resource 1 left Git: want only its deletes, got:\n%s", describe(changes))
	}
	s.mustApply(t, req)
	for _, k := range gone {
		if s.exists(t, k) {
			t.Errorf("after apply: %s still exists on the peer", k)
		}
		if s.owns(t, k) {
			t.Errorf("after apply: the inventory still holds deleted %s", k)
		}
	}
	for _, i := range []int{0, 2} {
		for _, k := range s.Keys(tr, i) {
			if !s.exists(t, k) {
				t.Errorf("after apply: %s, still in Git, is gone", k)
			}
		}
	}
	s.converged(t, req, "after the delete")
}

// testNeverDeleteUnowned: what k3sync does not own is never changed nor
// deleted, whatever marks it carries; a desired object that exists
// unowned is blocked, not taken over.
func testNeverDeleteUnowned(t *testing.T, s *suite) {
	t.Run("foreign_with_marks", func(t *testing.T) {
		s := s.restart(t)
		tr := s.Tenant("foreign", 2)
		s.mustApply(t, s.request(false, tr))
		fk := s.Foreign(t, tr.Name(), "intruder")
		before, ok := s.Read(t, fk)
		if !ok {
			t.Fatalf("Foreign did not make %s", fk)
		}
		check := func(req plan.Request, when string) {
			t.Helper()
			changes := s.plan(t, req)
			if c, ok := changeOf(changes, fk); ok {
				t.Errorf("%s: the plan touches the foreign %s: %s", when, fk, c.Action)
			}
			if _, err := s.apply(t, req, plan.ApplyOptions{}); err != nil {
				t.Errorf("%s: apply: %v", when, err)
			}
			s.unchanged(t, fk, before, when)
			if s.owns(t, fk) {
				t.Errorf("%s: the inventory holds the foreign %s", when, fk)
			}
		}
		check(s.request(false, tr), "the tenant's apply")
		check(s.request(false, s.Without(tr, 1)), "a resource left Git")
		gone := s.request(true)
		gone.AllowMassDeletion = true
		check(gone, "the tenant left Git (complete request without it)")
	})

	t.Run("taken", func(t *testing.T) {
		s := s.restart(t)
		tr := s.Tenant("taken", 2)
		tk := s.Taken(t, tr, 0)
		before, ok := s.Read(t, tk)
		if !ok {
			t.Fatalf("Taken did not make %s", tk)
		}
		req := s.request(false, tr)
		changes := s.plan(t, req)
		c, ok := changeOf(changes, tk)
		switch {
		case !ok:
			t.Errorf("plan has no change of the unowned %s:\n%s", tk, describe(changes))
		case c.Action != plan.Blocked:
			t.Errorf("plan: %s %s, want blocked", c.Action, c.Key)
		case !slices.ContainsFunc(c.Notes, func(n string) bool { return strings.Contains(n, "not owned by k3sync") }):
			t.Errorf("blocked %s: notes %q, want one saying it is not owned by k3sync", c.Key, c.Notes)
		}
		for _, k := range s.Keys(tr, 1) {
			if c, ok := changeOf(changes, k); !ok || c.Action != plan.Create {
				t.Errorf("plan: resource 1's %s is not created:\n%s", k, describe(changes))
			}
		}

		writes := s.Writes()
		results, err := s.apply(t, req, plan.ApplyOptions{})
		if err != nil {
			t.Errorf("apply with a blocked change returned an error: %v", err)
		}
		r, ok := resultOf(results, tk)
		switch {
		case !ok:
			t.Errorf("apply: no result for blocked %s:\n%s", tk, describeResults(results))
		case !errors.Is(r.Err, plan.ErrBlocked):
			t.Errorf("apply: %s: %v, want plan.ErrBlocked", tk, r.Err)
		}
		for _, r := range results {
			if r.Action == plan.Blocked && !errors.Is(r.Err, plan.ErrBlocked) {
				t.Errorf("apply: blocked %s: %v, want plan.ErrBlocked", r.Key, r.Err)
			}
			if r.Action != plan.Blocked && r.Err != nil {
				t.Errorf("apply: %s %s: %v", r.Action, r.Key, r.Err)
			}
		}
		if s.Writes() == writes {
			t.Errorf("apply made nothing: resource 1 was to be created")
		}
		s.unchanged(t, tk, before, "after the apply")
		if s.owns(t, tk) {
			t.Errorf("the inventory holds the unowned %s", tk)
		}
		// Removed from Git, resource and tenant: it stays.
		if _, err := s.apply(t, s.request(false, s.Without(tr, 0)), plan.ApplyOptions{}); err != nil {
			t.Errorf("apply without resource 0: %v", err)
		}
		s.unchanged(t, tk, before, "once resource 0 left Git")
		gone := s.request(false, plan.RemovedTenant(tr.Name()))
		gone.AllowMassDeletion = true
		if _, err := s.apply(t, gone, plan.ApplyOptions{}); err != nil {
			t.Errorf("apply of the removed tenant: %v", err)
		}
		s.unchanged(t, tk, before, "once the tenant left Git")
	})
}

// testOrphanProtected: a protected resource that leaves Git is orphaned:
// kept on the peer, dropped from the inventory.
func testOrphanProtected(t *testing.T, s *suite) {
	tr := s.Tenant("orphan", 1)
	withProtected, pk, ok := s.Protected(tr)
	if !ok {
		t.Logf("%s has no deletion protection: nothing to orphan", s.Target().System())
		return
	}
	s.mustApply(t, s.request(false, withProtected))
	if !s.exists(t, pk) || !s.owns(t, pk) {
		t.Fatalf("protected %s was not created and owned", pk)
	}
	before, _ := s.Read(t, pk)

	req := s.request(false, tr)
	changes := s.plan(t, req)
	c, ok := changeOf(changes, pk)
	switch {
	case !ok:
		t.Errorf("plan once the protected %s left Git: no change of it:\n%s", pk, describe(changes))
	case c.Action != plan.Orphan:
		t.Errorf("plan once the protected %s left Git: %s, want orphan", pk, c.Action)
	}
	results, err := s.apply(t, req, plan.ApplyOptions{})
	if err != nil {
		t.Errorf("apply: %v", err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("apply: %s %s: %v", r.Action, r.Key, r.Err)
		}
	}
	s.unchanged(t, pk, before, "after the orphan")
	if s.owns(t, pk) {
		t.Errorf("after the orphan: the inventory still holds %s", pk)
	}
	if c, ok := changeOf(s.plan(t, req), pk); ok {
		t.Errorf("plan after the orphan: %s %s, want nothing of it", c.Action, c.Key)
	}
}

// testDeleteCap: more deletes than the platform allows per plan are all
// blocked unless mass deletion is allowed.
func testDeleteCap(t *testing.T, s *suite) {
	const n = 4
	tr := s.Tenant("cap", n)
	s.mustApply(t, s.request(false, tr))

	s.Platform().Policy.Deletion.MaxDeletesPerPlan = 1
	gone := append(s.Keys(tr, 1), s.Keys(tr, 2)...)
	req := s.request(false, s.Without(s.Without(tr, 1), 2))
	changes := s.plan(t, req)
	if d := keysOf(changes, plan.Delete); len(d) > 0 {
		t.Errorf("plan above the cap has deletes:\n%s", keyList(d))
	}
	sameKeys(t, "plan above the cap: blocked", keysOf(changes, plan.Blocked), gone)
	for _, c := range changes {
		if c.Action == plan.Blocked && !slices.ContainsFunc(c.Notes, func(n string) bool { return strings.Contains(n, "maxDeletesPerPlan") }) {
			t.Errorf("blocked %s: notes %q, want one naming maxDeletesPerPlan", c.Key, c.Notes)
		}
	}

	writes := s.Writes()
	results, err := s.apply(t, req, plan.ApplyOptions{})
	if err != nil {
		t.Errorf("apply above the cap: %v", err)
	}
	for _, r := range results {
		if !errors.Is(r.Err, plan.ErrBlocked) {
			t.Errorf("apply above the cap: %s %s: %v, want plan.ErrBlocked", r.Action, r.Key, r.Err)
		}
	}
	if got := s.Writes() - writes; got != 0 {
		t.Errorf("apply above the cap sent %d writes, want 0", got)
	}
	for _, k := range gone {
		if !s.exists(t, k) {
			t.Errorf("apply above the cap: %s was deleted", k)
		}
	}

	req.AllowMassDeletion = true
	changes = s.plan(t, req)
	sameKeys(t, "plan with mass deletion allowed: deletes", keysOf(changes, plan.Delete), gone)
	s.mustApply(t, req)
	for _, k := range gone {
		if s.exists(t, k) {
			t.Errorf("mass deletion allowed: %s still exists", k)
		}
	}
	s.converged(t, req, "after the mass deletion")
}

// testGateFailure: a tenant whose turn on the gate never comes gets
// nothing written, every change failing with the wait's error.
func testGateFailure(t *testing.T, s *suite) {
	tr := s.Tenant("gate", 2)
	req := s.request(false, tr)
	changes := s.plan(t, req)
	writes := s.Writes()
	results, _ := s.apply(t, req, plan.ApplyOptions{Gate: failingGate{err: errGate}})
	if got := s.Writes() - writes; got != 0 {
		t.Errorf("apply whose gate failed sent %d writes, want 0", got)
	}
	if len(results) != len(changes) {
		t.Errorf("apply whose gate failed: %d results for %d planned changes:\n%s", len(results), len(changes), describeResults(results))
	}
	for _, r := range results {
		if r.Action == plan.Blocked {
			continue
		}
		if !errors.Is(r.Err, errGate) {
			t.Errorf("apply whose gate failed: %s %s: %v, want the gate's error", r.Action, r.Key, r.Err)
		}
	}
	for _, k := range s.allKeys(tr, 2) {
		if s.exists(t, k) {
			t.Errorf("apply whose gate failed: %s exists", k)
		}
	}
}

// testStale: an apply makes a tenant's changes only when they are the
// ones of the plan that was checked.
func testStale(t *testing.T, s *suite) {
	tr := s.Tenant("stale", 2)
	s.mustApply(t, s.request(false, tr))

	changed, _ := s.Change(tr, 0)
	req := s.request(false, changed)
	req.Checked = &plan.Plan{Revision: req.Revision, Changes: s.plan(t, req)}
	if !req.Checked.HasChanges() {
		t.Fatal("the checked plan has nothing to do")
	}
	// Live moves after the check.
	dk := s.Drift(t, tr, 1)
	drifted, _ := s.Read(t, dk)

	writes := s.Writes()
	results, _ := s.apply(t, req, plan.ApplyOptions{})
	if got := s.Writes() - writes; got != 0 {
		t.Errorf("apply of a stale plan sent %d writes, want 0", got)
	}
	if len(results) == 0 {
		t.Errorf("apply of a stale plan: no results, want each change failing with plan.ErrStale")
	}
	for _, r := range results {
		if r.Action != plan.Blocked && !errors.Is(r.Err, plan.ErrStale) {
			t.Errorf("apply of a stale plan: %s %s: %v, want plan.ErrStale", r.Action, r.Key, r.Err)
		}
	}
	s.unchanged(t, dk, drifted, "after the stale apply")

	fresh := req
	fresh.Checked = &plan.Plan{Revision: req.Revision, Changes: s.plan(t, req)}
	s.mustApply(t, fresh)
	req.Checked = nil
	s.converged(t, req, "after applying the fresh plan")
}

// testCrashAfterWriteAhead: a create that fails after the write-ahead
// leaves the resource in the inventory, and the next apply converges
// without blocking it.
func testCrashAfterWriteAhead(t *testing.T, s *suite) {
	tr := s.Tenant("crash", 2)
	req := s.request(false, tr)
	s.FailNextCreate(t)
	results, err := s.apply(t, req, plan.ApplyOptions{})
	var failed []plan.Result
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		t.Fatalf("apply with a failing create: every change made:\n%s", describeResults(results))
	}
	var ae *plan.ApplyError
	if !errors.As(err, &ae) {
		t.Errorf("apply with a failing create: error %v, want a *plan.ApplyError", err)
	} else if len(ae.Failed) != len(failed) {
		t.Errorf("apply with a failing create: the ApplyError has %d failed changes, the results %d", len(ae.Failed), len(failed))
	}
	for _, r := range failed {
		if r.Action == plan.Create && !s.owns(t, r.Key) {
			t.Errorf("failed create of %s: the inventory does not hold it (%s): a crash here would forget what may exist", r.Key, s.InventoryID(r.Key))
		}
	}

	changes := s.plan(t, req)
	for _, c := range changes {
		if c.Action == plan.Blocked {
			t.Errorf("plan after the failed create: blocked %s: %q", c.Key, c.Notes)
		}
	}
	s.mustApply(t, req)
	for _, k := range s.allKeys(tr, 2) {
		if !s.exists(t, k) {
			t.Errorf("after the retry: %s does not exist", k)
		}
	}
	s.converged(t, req, "after the retry")
}

// testTenantRemoval: a tenant removed from Git loses everything it owns
// but what is protected, which is orphaned, and its inventory ends empty.
func testTenantRemoval(t *testing.T, s *suite) {
	for _, tc := range []struct {
		name    string
		request func(tenant string, others ...plan.TenantRequest) plan.Request
	}{
		{"removed_tenant", func(tenant string, others ...plan.TenantRequest) plan.Request {
			return s.request(false, append([]plan.TenantRequest{plan.RemovedTenant(tenant)}, others...)...)
		}},
		{"complete_without_it", func(_ string, others ...plan.TenantRequest) plan.Request {
			return s.request(true, others...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s.restart(t)
			name := map[string]string{"removed_tenant": "removed", "complete_without_it": "absent"}[tc.name]
			tr := s.Tenant(name, 2)
			other := s.Tenant(name+"-other", 1)
			full, pk, protected := s.Protected(tr)
			if !protected {
				t.Logf("%s has no deletion protection: nothing to orphan", s.Target().System())
			}
			s.mustApply(t, s.request(false, full, other))
			var pBefore string
			if protected {
				pBefore, _ = s.Read(t, pk)
			}

			req := tc.request(tr.Name(), other)
			changes := s.plan(t, req)
			gone := s.allKeys(tr, 2)
			sameKeys(t, "plan of the tenant's removal: deletes of resources 0 and 1",
				slices.DeleteFunc(keysOf(changes, plan.Delete), func(k plan.Key) bool { return !slices.Contains(gone, k) }), gone)
			for _, c := range changes {
				if c.Tenant != tr.Name() {
					t.Errorf("plan of the tenant's removal: %s %s of another tenant", c.Action, c.Key)
				}
				if c.Action == plan.Blocked {
					t.Errorf("plan of the tenant's removal: blocked %s: %q", c.Key, c.Notes)
				}
			}
			if protected {
				if c, ok := changeOf(changes, pk); !ok || c.Action != plan.Orphan {
					t.Errorf("plan of the tenant's removal: protected %s is not orphaned:\n%s", pk, describe(changes))
				}
			}
			results, err := s.apply(t, req, plan.ApplyOptions{})
			if err != nil {
				t.Errorf("apply of the tenant's removal: %v", err)
			}
			for _, r := range results {
				if r.Err != nil {
					t.Errorf("apply of the tenant's removal: %s %s: %v", r.Action, r.Key, r.Err)
				}
			}
			for _, k := range gone {
				if s.exists(t, k) {
					t.Errorf("after the tenant's removal: %s still exists", k)
				}
			}
			if protected {
				s.unchanged(t, pk, pBefore, "after the tenant's removal (protected, orphaned)")
			}
			if e := s.entry(t, tr.Name()); len(e.Resources) > 0 {
				ids := make([]string, 0, len(e.Resources))
				for id := range e.Resources {
					ids = append(ids, id)
				}
				slices.Sort(ids)
				t.Errorf("after the tenant's removal: its inventory still holds %q", ids)
			}
			for _, k := range s.allKeys(other, 1) {
				if !s.exists(t, k) {
					t.Errorf("after the tenant's removal: the other tenant's %s is gone", k)
				}
			}
			s.converged(t, req, "after the tenant's removal")
		})
	}
}

// testAdopt: a tenant that adopts what exists (policies.adopt) plans the
// object made out of band as adopt, not blocked; the apply takes it into
// the inventory without recreating it, and the next plan is empty. Once
// adopted it is the tenant's: removing it from Git deletes it.
func testAdopt(t *testing.T, s *suite) {
	tr := adopting(s.Tenant("adopts", 2))
	tk := s.Taken(t, tr, 0)
	if !s.exists(t, tk) {
		t.Fatalf("Taken did not make %s", tk)
	}
	req := s.request(false, tr)
	changes := s.plan(t, req)
	c, ok := changeOf(changes, tk)
	switch {
	case !ok:
		t.Fatalf("plan has no change of %s, made out of band:\n%s", tk, describe(changes))
	case c.Action != plan.Adopt:
		t.Errorf("plan: %s %s %q, want adopt", c.Action, c.Key, c.Notes)
	}
	for _, c := range changes {
		if c.Action == plan.Blocked {
			t.Errorf("plan: %s blocked although the tenant adopts: %q", c.Key, c.Notes)
		}
	}
	s.mustApply(t, req)
	if !s.exists(t, tk) || !s.owns(t, tk) {
		t.Fatalf("after the apply %s exists %v, owned %v: want both", tk, s.exists(t, tk), s.owns(t, tk))
	}
	if again := s.plan(t, req); len(again) != 0 {
		t.Errorf("plan after adopting:\n%s", describe(again))
	}
	// Adopted, it is the tenant's like anything it created.
	without := s.request(false, adopting(s.Without(tr, 0)))
	if c, ok := changeOf(s.plan(t, without), tk); !ok || c.Action != plan.Delete {
		t.Errorf("once the adopted %s left Git: %s, want delete", tk, c.Action)
	}
}

// adopting is tr with policies.adopt set, on a copy of its model.
func adopting(tr plan.TenantRequest) plan.TenantRequest {
	if tr.Model != nil {
		m := *tr.Model
		m.Policies.Adopt = true
		tr.Model = &m
	}
	return tr
}
