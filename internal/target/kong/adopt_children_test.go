package kong

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// listData is the data of an Admin API list.
func listData(t *testing.T, u string) []map[string]any {
	t.Helper()
	code, out := admin(t, http.MethodGet, u, nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, code, out)
	}
	var rows []map[string]any
	for _, r := range out["data"].([]any) {
		rows = append(rows, r.(map[string]any))
	}
	return rows
}

const (
	stableTarget = "api.payments.svc.cluster.local:8080"
	canaryTarget = "api-canary.payments.svc:8080"
)

// TestAdoptACLGroupsAndTargets: a consumer with its ACL group and an
// upstream with its targets, made out of band under tenant payments'
// names, are adopted with them, never planned as creates (which Kong
// refuses with a 409): the ACL group and the target that match Git keep
// their IDs and get k3sync's tags only; the target whose weight differs
// lists it (and is replaced, as decK does); the apply records all of
// them, and the next plan is empty.
func TestAdoptACLGroupsAndTargets(t *testing.T) {
	emu, u := emulator(t, kongemu.Options{})
	d := example(t)
	store := state.NewMemory()
	tg := newTarget(t, u, store, newSink())
	mustCreate(t, u, "/consumers", map[string]any{"username": "payments-mobile"})
	acl := mustCreate(t, u, "/consumers/payments-mobile/acls", map[string]any{"group": "payments-partners"})
	mustCreate(t, u, "/upstreams", map[string]any{"name": "payments-api", "algorithm": "least-connections"})
	stable := mustCreate(t, u, "/upstreams/payments-api/targets", map[string]any{"target": stableTarget, "weight": 100})
	mustCreate(t, u, "/upstreams/payments-api/targets", map[string]any{"target": canaryTarget, "weight": 5})
	aclKey := key("payments", KindACLGroup, "payments-mobile/payments-partners")
	stableKey := key("payments", KindTarget, "payments-api/"+stableTarget)
	canaryKey := key("payments", KindTarget, "payments-api/"+canaryTarget)

	req := adopting(t, d.Request(), "payments")
	changes := mustPlan(t, tg, req)
	for _, c := range changes {
		if c.Tenant == "payments" && (c.Action == plan.Blocked || c.Action == plan.Create && (c.Kind == KindACLGroup && strings.HasPrefix(c.Name, "payments-mobile/") || c.Kind == KindTarget)) {
			t.Errorf("%s: %s %q, want adopt", c.Key, c.Action, c.Notes)
		}
	}
	if c := changeOf(t, changes, aclKey); c.Action != plan.Adopt || len(c.Fields) != 0 {
		t.Errorf("ACL group: %s %+v, want adopt without fields", c.Action, c.Fields)
	}
	if c := changeOf(t, changes, stableKey); c.Action != plan.Adopt || len(c.Fields) != 0 || slices.Contains(c.Notes, targetAdoptNote) {
		t.Errorf("target %s: %s %+v %q, want adopt without fields, not replaced", stableTarget, c.Action, c.Fields, c.Notes)
	}
	if c := changeOf(t, changes, canaryKey); c.Action != plan.Adopt || !slices.Contains(c.Notes, targetAdoptNote) {
		t.Errorf("target %s: %s %q, want adopt, noted as replaced", canaryTarget, c.Action, c.Notes)
	} else if f, ok := field(c, "weight"); !ok || f.Before != float64(5) || f.After != float64(10) {
		t.Errorf("target %s fields %+v, want weight 5 → 10", canaryTarget, c.Fields)
	}

	mustApply(t, tg, req)
	// Only the target whose weight differs is replaced; the other is
	// patched.
	targetWrites := map[string]int{}
	for k, n := range emu.Stats() {
		if method, path, _ := strings.Cut(k, " "); strings.HasPrefix(path, "/upstreams/") && strings.Contains(path, "/targets/") {
			targetWrites[method] += n
		}
	}
	if targetWrites["DELETE"] != 1 || targetWrites["PATCH"] != 1 {
		t.Errorf("target writes %v, want one DELETE (the replaced target) and one PATCH (the tags of the other)", targetWrites)
	}
	acls := listData(t, u+"/consumers/payments-mobile/acls")
	if len(acls) != 1 || acls[0]["id"] != acl["id"] || !hasTenantTags(acls[0], "payments") {
		t.Errorf("ACL groups after adopt: %v, want the one made out of band, same ID, with the tenant's tags", acls)
	}
	targets := listData(t, u+"/upstreams/payments-api/targets")
	weights := map[string]any{}
	for _, r := range targets {
		weights[r["target"].(string)] = r["weight"]
		if !hasTenantTags(r, "payments") {
			t.Errorf("target %v without the tenant's tags", r)
		}
		if r["target"] == stableTarget && r["id"] != stable["id"] {
			t.Errorf("target %s was replaced (ID %v, was %v): only its tags differed", stableTarget, r["id"], stable["id"])
		}
	}
	if len(targets) != 2 || weights[stableTarget] != float64(100) || weights[canaryTarget] != float64(10) {
		t.Errorf("targets after adopt: %v, want two, weights 100 and 10", targets)
	}
	entry, err := store.Load(t.Context(), "payments", tg.stateID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []plan.Key{aclKey, stableKey, canaryKey} {
		if !applied(entry, entityID(k.Kind, k.Name)) {
			t.Errorf("%s is not recorded in the inventory", k)
		}
	}
	if again := mustPlan(t, tg, req); len(again) != 0 {
		t.Fatalf("plan after adopt:\n%s", planText(t, again))
	}
}

// TestChildNotOwnedIsBlocked: an ACL group and a target made out of band,
// without k3sync's tags, on a consumer and an upstream the tenant owns,
// under names Git desires: without policies.adopt they are blocked, not
// planned as creates that Kong would refuse, and the tenant's other
// changes go on; with it they are adopted; one tagged for another tenant
// stays blocked even then.
func TestChildNotOwnedIsBlocked(t *testing.T) {
	_, u := emulator(t, kongemu.Options{})
	d := example(t)
	tg := newTarget(t, u, state.NewMemory(), newSink())
	mustApply(t, tg, d.Request())

	// Replaced out of band by copies without k3sync's tags.
	aclKey := key("payments", KindACLGroup, "payments-mobile/payments-partners")
	acls := listData(t, u+"/consumers/payments-mobile/acls")
	if len(acls) != 1 {
		t.Fatalf("ACL groups of payments-mobile: %v", acls)
	}
	if code, out := admin(t, http.MethodDelete, u+"/consumers/payments-mobile/acls/"+acls[0]["id"].(string), nil); code != http.StatusNoContent {
		t.Fatalf("delete ACL group: %d %v", code, out)
	}
	mustCreate(t, u, "/consumers/payments-mobile/acls", map[string]any{"group": "payments-partners"})
	targetKey := key("payments", KindTarget, "payments-api/"+canaryTarget)
	if code, out := admin(t, http.MethodDelete, u+"/upstreams/payments-api/targets/"+url.PathEscape(canaryTarget), nil); code != http.StatusNoContent {
		t.Fatalf("delete target: %d %v", code, out)
	}
	mustCreate(t, u, "/upstreams/payments-api/targets", map[string]any{"target": canaryTarget, "weight": 10, "tags": []string{render.TagManaged, render.TagTenantPref + "checkout"}})

	changes := mustPlan(t, tg, d.Request())
	if c := changeOf(t, changes, aclKey); c.Action != plan.Blocked || !strings.Contains(strings.Join(c.Notes, " "), "without k3sync's tags") {
		t.Errorf("ACL group without adopt: %s %q, want blocked, without k3sync's tags", c.Action, c.Notes)
	}
	if c := changeOf(t, changes, targetKey); c.Action != plan.Blocked || !strings.Contains(strings.Join(c.Notes, " "), "tagged for tenant checkout") {
		t.Errorf("target without adopt: %s %q, want blocked, tagged for tenant checkout", c.Action, c.Notes)
	}
	results := mustApply(t, tg, d.Request())
	for _, r := range results {
		if r.Err != nil && r.Action != plan.Blocked {
			t.Errorf("apply: %s %s: %v", r.Action, r.Key, r.Err)
		}
	}

	req := adopting(t, d.Request(), "payments")
	changes = mustPlan(t, tg, req)
	if c := changeOf(t, changes, aclKey); c.Action != plan.Adopt {
		t.Errorf("ACL group with adopt: %s %q, want adopt", c.Action, c.Notes)
	}
	if c := changeOf(t, changes, targetKey); c.Action != plan.Blocked || !strings.Contains(strings.Join(c.Notes, " "), "tagged for tenant checkout") {
		t.Errorf("target of another tenant's tags, with adopt: %s %q, want blocked", c.Action, c.Notes)
	}
	mustApply(t, tg, req)
	if again := mustPlan(t, tg, req); len(again) != 1 || again[0].Key != targetKey {
		t.Errorf("plan after adopting, want the blocked target only:\n%s", planText(t, again))
	}
}
