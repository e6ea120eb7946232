package kong

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// planBoth plans req with an empty memo twice, without the quick check:
// tenants diffed in batches, then each tenant apart. It returns both
// plans, how many tenants the first concluded in a batch, and both plans'
// errors.
func planBoth(t *testing.T, tg *Target, req plan.Request) (batched, apart []plan.Change, n int64, errBatched, errApart error) {
	t.Helper()
	quickChecks = false
	defer func() { quickChecks = true }()
	tg.forget()
	before := tg.batched.Load()
	batched, errBatched = tg.Plan(t.Context(), req)
	n = tg.batched.Load() - before
	tg.forget()
	batchDiffs = false
	defer func() { batchDiffs = true }()
	apart, errApart = tg.Plan(t.Context(), req)
	tg.forget()
	return batched, apart, n, errBatched, errApart
}

// agreeingPlan plans req both ways (planBoth), checks that both plans
// succeed and are equal and that the batch concluded want tenants (who
// they are, for the message), and returns the plan's actions by key.
func agreeingPlan(t *testing.T, tg *Target, req plan.Request, want int64, who string) map[plan.Key]plan.Action {
	t.Helper()
	batched, apart, n, errB, errA := planBoth(t, tg, req)
	if errB != nil || errA != nil {
		t.Fatalf("plans: %v / %v", errB, errA)
	}
	if n != want {
		t.Errorf("%d tenants concluded in a batch, want %d (%s)", n, want, who)
	}
	if diff := cmp.Diff(apart, batched); diff != "" {
		t.Errorf("batched plan (-apart +batched):\n%s", diff)
	}
	got := map[plan.Key]plan.Action{}
	for _, c := range batched {
		got[c.Key] = c.Action
	}
	return got
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// appliedExample is a gateway where k3sync applied the example repo, and the
// example, to edit.
func appliedExample(t *testing.T) (*Target, *desired, string) {
	t.Helper()
	_, url := emulator(t, kongemu.Options{})
	tg := newTarget(t, url, state.NewMemory(), newSink())
	d := example(t)
	mustApply(t, tg, d.Request())
	return tg, d, url
}

// TestBatchedPlanAgreesWithTenantDiffs: a plan that diffs the tenants
// with something on the gateway in one batch finds exactly the changes
// that diffing each tenant apart finds — changes in Git, drift made
// outside k3sync, deletes — each under its own tenant. The batch
// concludes only for the tenant with nothing to do (checkout); the
// tenants it finds changes for are diffed apart.
func TestBatchedPlanAgreesWithTenantDiffs(t *testing.T) {
	tg, d, url := appliedExample(t)
	// Git: payments changes a route's paths and drops a plugin. Outside
	// k3sync: search's first service gets another host. Checkout
	// changes nothing.
	pay := d.kong(t, "payments")
	pay.Routes[0].Paths = []string{"/moved"}
	if len(pay.Plugins) == 0 {
		t.Fatal("payments has no plugin")
	}
	dropped := pay.Plugins[len(pay.Plugins)-1]
	pay.Plugins = pay.Plugins[:len(pay.Plugins)-1]
	search := d.kong(t, "search").Services[0].Name
	if code, out := admin(t, http.MethodPatch, url+"/services/"+search, map[string]any{"host": "elsewhere.example"}); code != http.StatusOK {
		t.Fatalf("patch %s: %d %v", search, code, out)
	}

	got := agreeingPlan(t, tg, d.Request(), 1, "checkout")
	want := map[plan.Key]plan.Action{
		{Tenant: "payments", System: plan.Kong, Target: gateway, Kind: KindRoute, Name: pay.Routes[0].Name}:   plan.Update,
		{Tenant: "payments", System: plan.Kong, Target: gateway, Kind: KindPlugin, Name: pluginName(dropped)}: plan.Delete,
		{Tenant: "search", System: plan.Kong, Target: gateway, Kind: KindService, Name: search}:               plan.Update,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batched plan's changes (-want +got):\n%s", diff)
	}
}

// TestBatchedPlanKeepsOthersBatched: a tenant that names its service by
// another tenant's service ID, whose entities go-database-reconciler would
// pair if they were diffed together, is diffed apart, and so is the
// other tenant; the remaining tenants are still diffed in a batch. A
// hostile name costs the plan two tenants' diffs, not the batching of
// all.
func TestBatchedPlanKeepsOthersBatched(t *testing.T) {
	_, url := emulator(t, kongemu.Options{})
	tg := newTarget(t, url, state.NewMemory(), newSink())
	req := syntheticRequest(6, 2)
	mustApply(t, tg, req)
	kongOf := func(i int) *render.KongResources { return req.Tenants[i].Desired.Kong }
	// t000 changes a route in Git; t001's service drifts; t002 wants a
	// service named by t003's service's ID. t004 and t005 change nothing.
	kongOf(0).Routes[0].Paths = []string{"/moved"}
	drifted := kongOf(1).Services[0].Name
	if code, out := admin(t, http.MethodPatch, url+"/services/"+drifted, map[string]any{"port": 9090}); code != http.StatusOK {
		t.Fatalf("patch %s: %d %v", drifted, code, out)
	}
	code, out := admin(t, http.MethodGet, url+"/services/"+kongOf(3).Services[0].Name, nil)
	id, _ := out["id"].(string)
	if code != http.StatusOK || id == "" {
		t.Fatalf("get t003's service: %d %v", code, out)
	}
	kongOf(2).Services = append(kongOf(2).Services, render.KongService{
		Name: id, Protocol: "http", Host: "t002.example", Port: 80, Tags: render.Tags("t002"),
	})

	got := agreeingPlan(t, tg, req, 2, "t004 and t005")
	want := map[plan.Key]plan.Action{
		{Tenant: "t000", System: plan.Kong, Target: gateway, Kind: KindRoute, Name: kongOf(0).Routes[0].Name}: plan.Update,
		{Tenant: "t001", System: plan.Kong, Target: gateway, Kind: KindService, Name: drifted}:                plan.Update,
		{Tenant: "t002", System: plan.Kong, Target: gateway, Kind: KindService, Name: id}:                     plan.Create,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batched plan's changes (-want +got):\n%s", diff)
	}
}

// TestBatchedPlanFallsBack: tenants whose entities may meet are diffed
// apart, as before batching. Payments drops a service from Git and
// search wants a service named by that service's ID: diffed together,
// go-database-reconciler would pair them (it looks entities up by ID or
// name) and plan an update of payments' service for search; apart,
// payments' service is deleted and search's created. And a tenant whose
// diff fails fails alone.
func TestBatchedPlanFallsBack(t *testing.T) {
	tg, d, url := appliedExample(t)
	pay := d.kong(t, "payments")
	// Preferably a service without plugins of its own: a plugin that
	// names the service by ID would make the batch fail anyway.
	i := slices.IndexFunc(pay.Services, func(sv render.KongService) bool {
		return !slices.ContainsFunc(pay.Plugins, func(p render.KongPlugin) bool { return p.Service == sv.Name })
	})
	taken := pay.Services[max(i, 0)]
	code, out := admin(t, http.MethodGet, url+"/services/"+taken.Name, nil)
	id, _ := out["id"].(string)
	if code != http.StatusOK || id == "" {
		t.Fatalf("get %s: %d %v", taken.Name, code, out)
	}
	pay.Services = slices.DeleteFunc(pay.Services, func(sv render.KongService) bool { return sv.Name == taken.Name })
	routes := map[string]bool{}
	pay.Routes = slices.DeleteFunc(pay.Routes, func(r render.KongRoute) bool {
		routes[r.Name] = r.Service == taken.Name
		return routes[r.Name]
	})
	pay.Plugins = slices.DeleteFunc(pay.Plugins, func(p render.KongPlugin) bool {
		return p.Service == taken.Name || routes[p.Route]
	})
	search := d.kong(t, "search")
	search.Services = append(search.Services, render.KongService{
		Name: id, Protocol: "http", Host: "search.example", Port: 80, Tags: render.Tags("search"),
	})
	batched, apart, n, errB, errA := planBoth(t, tg, d.Request())
	if n != 0 {
		t.Errorf("%d tenants concluded in a batch, want none: search names a service by payments' service's ID, and checkout is left alone", n)
	}
	if errText(errB) != errText(errA) {
		t.Errorf("errors: batched %v, apart %v", errB, errA)
	}
	if diff := cmp.Diff(apart, batched); diff != "" {
		t.Errorf("plan (-apart +batched):\n%s", diff)
	}
	got := map[plan.Key]plan.Action{}
	for _, c := range batched {
		got[c.Key] = c.Action
	}
	if a := got[plan.Key{Tenant: "search", System: plan.Kong, Target: gateway, Kind: KindService, Name: id}]; a != plan.Create {
		t.Errorf("search's service %s: %q, want a create:\n%s", id, a, planText(t, batched))
	}
	if a := got[plan.Key{Tenant: "payments", System: plan.Kong, Target: gateway, Kind: KindService, Name: taken.Name}]; a != plan.Delete {
		t.Errorf("payments' service %s: %q, want a delete:\n%s", taken.Name, a, planText(t, batched))
	}

	// A plugin the gateway does not know fails the batch's diff: every
	// tenant is diffed apart and the error is search's alone.
	tg, d, _ = appliedExample(t)
	d.kong(t, "payments").Routes[0].Paths = []string{"/moved"}
	search = d.kong(t, "search")
	if len(search.Plugins) == 0 {
		t.Fatal("search has no plugin")
	}
	search.Plugins[0].Name = "no-such-plugin"
	batched, apart, _, errB, errA = planBoth(t, tg, d.Request())
	var pe *PlanError
	if !errors.As(errB, &pe) || len(pe.Tenants) != 1 || pe.Tenants[0].Tenant != "search" {
		t.Fatalf("batched plan: %v, want a PlanError for search alone", errB)
	}
	if errText(errB) != errText(errA) {
		t.Errorf("errors: batched %v, apart %v", errB, errA)
	}
	if diff := cmp.Diff(apart, batched); diff != "" {
		t.Errorf("plan (-apart +batched):\n%s", diff)
	}
	if len(batched) == 0 || batched[0].Tenant != "payments" {
		t.Errorf("payments' route change is missing:\n%s", planText(t, batched))
	}
}
