package kong

import (
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// exampleCounts are the example repo's Kong entities on gateway edge.
var exampleCounts = map[string]int{
	"services": 3, "routes": 4, "plugins": 8, "consumers": 2, "upstreams": 2,
	"targets": 3, "key-auths": 2, "acls": 2,
}

// TestApplyExampleThenNoop applies the example repo to an empty gateway,
// then proves that a re-plan finds nothing to do with reads only and a
// fixed number of list requests, and that a re-apply writes nothing, to
// Kong or to the state store.
func TestApplyExampleThenNoop(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	store := state.NewMemory()
	sink := newSink()
	tg := newTarget(t, url, store, sink)

	results := mustApply(t, tg, d.Request())
	if len(results) != 26 {
		t.Fatalf("apply made %d changes, want 26", len(results))
	}
	for _, r := range results {
		if r.Action != plan.Create || r.Err != nil {
			t.Errorf("%s: %s, err %v", r.Key, r.Action, r.Err)
		}
	}
	for entity, want := range exampleCounts {
		if got := emu.Count(entity); got != want {
			t.Errorf("after apply: %d %s, want %d", got, entity, want)
		}
	}

	emu.ResetStats()
	changes := mustPlan(t, tg, d.Request())
	if len(changes) != 0 {
		t.Fatalf("re-plan has changes:\n%s", planText(t, changes))
	}
	if w := emu.Writes(); w != 0 {
		t.Fatalf("re-plan sent %d writes: %v", w, emu.Stats())
	}
	// One list per kind (services, routes, plugins, consumers, upstreams,
	// acls, key-auths) and one per upstream for its targets.
	if got, want := listCount(emu), 7+exampleCounts["upstreams"]; got != want {
		t.Errorf("re-plan sent %d list requests, want %d: %v", got, want, emu.Stats())
	}
	if got := emu.Stats()["GET /"]; got != 1 {
		t.Errorf("re-plan asked for the version %d times", got)
	}

	saves := store.Saves()
	emu.ResetStats()
	results = mustApply(t, tg, d.Request())
	if len(results) != 0 || emu.Writes() != 0 || store.Saves() != saves {
		t.Fatalf("re-apply: %d results, %d writes, %d saves; want none", len(results), emu.Writes(), store.Saves()-saves)
	}
	if got := len(sink.all()); got != 2 {
		t.Fatalf("%d keys delivered, want 2 (re-apply must not re-key)", got)
	}
}

// TestListRequestsIndependentOfTenants plans 1 and 40 tenants: the read
// sends the same requests.
func TestListRequestsIndependentOfTenants(t *testing.T) {
	lists := map[int]int{}
	reads := map[int]int{}
	for _, n := range []int{1, 40} {
		emu, url := emulator(t, kongemu.Options{})
		tg := newTarget(t, url, state.NewMemory(), newSink())
		req := syntheticRequest(n, 2)
		mustApply(t, tg, req)
		emu.ResetStats()
		if changes := mustPlan(t, tg, req); len(changes) != 0 {
			t.Fatalf("%d tenants: re-plan has changes:\n%s", n, planText(t, changes))
		}
		lists[n], reads[n] = listCount(emu), emu.Reads()
		t.Logf("%d tenants: %v", n, emu.Stats())
		if emu.Writes() != 0 {
			t.Fatalf("%d tenants: re-plan wrote: %v", n, emu.Stats())
		}
	}
	if lists[1] != 7 || lists[40] != 7 {
		t.Errorf("list requests: %v, want 7 for any number of tenants", lists)
	}
	if reads[1] != reads[40] {
		t.Errorf("read requests: %v, want the same for any number of tenants", reads)
	}
}

// TestDrift shows that an entity changed by another client is drift on
// exactly the fields that client changed, and that a change in Git is not.
func TestDrift(t *testing.T) {
	tests := []struct {
		name string
		// edit changes the gateway as another client would (Admin API
		// path and PATCH body) ...
		path string
		body map[string]any
		// ... gitEdit changes Git.
		gitEdit func(*render.KongResources)
		want    []plan.Change
	}{
		{
			name: "route edited out of band",
			path: "/routes/payments-public",
			body: map[string]any{"paths": []string{"/pay"}},
			want: []plan.Change{{
				Key: key("payments", KindRoute, "payments-public"), Action: plan.Update, Drift: true, Level: levels[KindRoute],
				Fields: []plan.FieldChange{{Path: "paths", Before: []any{"/pay"}, After: []any{"/payments"}, Drift: true}},
			}},
		},
		{
			name: "plugin config edited out of band",
			path: "/plugins/" + "PLUGIN",
			body: map[string]any{"config": map[string]any{"minute": 6000}},
			want: []plan.Change{{
				Key: key("search", KindPlugin, "service/search-api/rate-limiting"), Action: plan.Update, Drift: true, Level: levels[KindPlugin],
				Fields: []plan.FieldChange{{Path: "config.minute", Before: 6000.0, After: nil, Drift: true}},
			}},
		},
		{
			name: "route changed in Git",
			gitEdit: func(k *render.KongResources) {
				for i := range k.Routes {
					if k.Routes[i].Name == "payments-public" {
						k.Routes[i].Paths = []string{"/payments", "/pay"}
					}
				}
			},
			want: []plan.Change{{
				Key: key("payments", KindRoute, "payments-public"), Action: plan.Update, Level: levels[KindRoute],
				Fields: []plan.FieldChange{{Path: "paths", Before: []any{"/payments"}, After: []any{"/payments", "/pay"}}},
			}},
		},
		{
			name: "service changed in Git and out of band",
			path: "/services/checkout-web",
			body: map[string]any{"read_timeout": 1000},
			gitEdit: func(k *render.KongResources) {
				k.Services[0].Retries = ptr(2)
			},
			want: []plan.Change{{
				Key: key("checkout", KindService, "checkout-web"), Action: plan.Update, Drift: true, Level: levels[KindService],
				Fields: []plan.FieldChange{
					{Path: "read_timeout", Before: 1000.0, After: 60000.0, Drift: true},
					{Path: "retries", Before: 5.0, After: 2.0},
				},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, url := emulator(t, kongemu.Options{})
			d := example(t)
			tg := newTarget(t, url, state.NewMemory(), newSink())
			mustApply(t, tg, d.Request())
			if tt.path != "" {
				path := tt.path
				if strings.HasSuffix(path, "PLUGIN") {
					path = "/plugins/" + pluginID(t, url, "search-api", "rate-limiting")
				}
				if code, out := admin(t, http.MethodPatch, url+path, tt.body); code != http.StatusOK {
					t.Fatalf("PATCH %s: %d %v", path, code, out)
				}
			}
			if tt.gitEdit != nil {
				tenant := tt.want[0].Tenant
				tt.gitEdit(d.kong(t, tenant))
			}
			emu.ResetStats()
			got := mustPlan(t, tg, d.Request())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if emu.Writes() != 0 {
				t.Errorf("plan wrote: %v", emu.Stats())
			}
			// Applying reverts the drift and takes the Git change.
			mustApply(t, tg, d.Request())
			if again := mustPlan(t, tg, d.Request()); len(again) != 0 {
				t.Errorf("plan after apply:\n%s", planText(t, again))
			}
		})
	}
}

// TestDeleteOnlyOwned removes a service from Git: it goes with its routes
// and plugins, in an order Kong accepts, while foreign entities that look
// like the tenant's stay, even one carrying both of the tenant's tags:
// ownership is the inventory, tags are marks. They also stay when the
// whole tenant is removed from Git.
func TestDeleteOnlyOwned(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	tg := newTarget(t, url, state.NewMemory(), newSink())
	mustApply(t, tg, d.Request())

	// Foreign: no tags; only the tenant tag; only the k3sync tag; both
	// tags, made out of band, so not in the tenant's inventory.
	foreign := []string{"payments-legacy", "payments-api-v0", "payments-shared", "payments-forged"}
	for _, body := range []map[string]any{
		{"name": "payments-legacy", "host": "legacy.internal"},
		{"name": "payments-api-v0", "host": "v0.internal", "tags": []string{"k3sync-tenant:payments"}},
		{"name": "payments-shared", "host": "shared.internal", "tags": []string{"k3sync"}},
		{"name": "payments-forged", "host": "forged.internal", "tags": render.Tags("payments")},
	} {
		if code, out := admin(t, http.MethodPost, url+"/services", body); code != http.StatusCreated {
			t.Fatalf("create foreign service: %d %v", code, out)
		}
		route := map[string]any{"name": body["name"].(string) + "-route", "paths": []string{"/" + body["name"].(string)}, "tags": body["tags"]}
		if code, out := admin(t, http.MethodPost, url+"/services/"+body["name"].(string)+"/routes", route); code != http.StatusCreated {
			t.Fatalf("create foreign route: %d %v", code, out)
		}
	}

	k := d.kong(t, "payments")
	k.Services = k.Services[:0]
	k.Routes = k.Routes[:0]
	// A consumer's plugins are on the tenant's services: they go with them.
	k.Plugins = k.Plugins[:0]

	got := mustPlan(t, tg, d.Request())
	want := []plan.Change{
		{Key: key("payments", KindPlugin, "route/payments-webhooks/request-transformer"), Action: plan.Delete, Level: 3},
		{Key: key("payments", KindPlugin, "service/payments-api/acl"), Action: plan.Delete, Level: 3},
		{Key: key("payments", KindPlugin, "service/payments-api/consumer/payments-partner-acme/rate-limiting"), Action: plan.Delete, Level: 3},
		{Key: key("payments", KindPlugin, "service/payments-api/key-auth"), Action: plan.Delete, Level: 3},
		{Key: key("payments", KindPlugin, "service/payments-api/rate-limiting"), Action: plan.Delete, Level: 3},
		{Key: key("payments", KindRoute, "payments-public"), Action: plan.Delete, Level: 2},
		{Key: key("payments", KindRoute, "payments-webhooks"), Action: plan.Delete, Level: 2},
		{Key: key("payments", KindService, "payments-api"), Action: plan.Delete, Level: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}

	results := mustApply(t, tg, d.Request())
	var order []string
	for _, r := range results {
		order = append(order, r.Kind+" "+r.Name)
	}
	wantOrder := []string{
		"plugin route/payments-webhooks/request-transformer", "plugin service/payments-api/acl",
		"plugin service/payments-api/consumer/payments-partner-acme/rate-limiting", "plugin service/payments-api/key-auth", "plugin service/payments-api/rate-limiting",
		"route payments-public", "route payments-webhooks", "service payments-api",
	}
	if diff := cmp.Diff(wantOrder, order); diff != "" {
		t.Errorf("apply order (-want +got):\n%s", diff)
	}
	untouched := func() {
		t.Helper()
		for _, name := range foreign {
			if code, _ := admin(t, http.MethodGet, url+"/services/"+name, nil); code != http.StatusOK {
				t.Errorf("foreign service %s: GET %d, want it untouched", name, code)
			}
			if code, _ := admin(t, http.MethodGet, url+"/routes/"+name+"-route", nil); code != http.StatusOK {
				t.Errorf("foreign route %s-route: GET %d, want it untouched", name, code)
			}
		}
	}
	untouched()
	if code, _ := admin(t, http.MethodGet, url+"/services/payments-api", nil); code != http.StatusNotFound {
		t.Errorf("service payments-api: GET %d after delete", code)
	}
	if got := emu.Count("services"); got != 2+len(foreign) {
		t.Errorf("%d services left, want checkout-web, search-api and %d foreign", got, len(foreign))
	}
	if again := mustPlan(t, tg, d.Request()); len(again) != 0 {
		t.Errorf("plan after delete:\n%s", planText(t, again))
	}

	// The tenant removed from Git: all it owns goes, nothing else.
	d.RemoveTenant("payments")
	results = mustApply(t, tg, d.Request())
	for _, r := range results {
		if r.Tenant != "payments" || r.Action != plan.Delete || r.Err != nil {
			t.Errorf("removal: %s: %s %v", r.Key, r.Action, r.Err)
		}
		if strings.Contains(r.Name, "forged") {
			t.Errorf("removal deleted %s, which is not in the inventory", r.Key)
		}
	}
	if len(results) == 0 {
		t.Error("removing payments deleted nothing")
	}
	untouched()
	if got := emu.Count("consumers"); got != 0 {
		t.Errorf("%d consumers left after payments' removal", got)
	}
}

// TestTenantRemovedFromGit deletes everything a tenant owned once Git no
// longer has it, unless the plan has more deletes than the platform
// allows; a narrowed request leaves other tenants alone.
func TestTenantRemovedFromGit(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	tg := newTarget(t, url, state.NewMemory(), newSink())
	mustApply(t, tg, d.Request())
	d.RemoveTenant("search")

	// Narrowed to checkout: search is out of scope, checkout matches.
	narrow := d.Request()
	narrow.Complete = false
	narrow.Tenants = slices.DeleteFunc(narrow.Tenants, func(tr plan.TenantRequest) bool { return tr.Desired.Name != "checkout" })
	if len(narrow.Tenants) != 1 {
		t.Fatalf("no checkout tenant")
	}
	if got := mustPlan(t, tg, narrow); len(got) != 0 {
		t.Fatalf("narrowed plan touches other tenants:\n%s", planText(t, got))
	}

	// Over the cap: every delete is blocked, nothing is deleted.
	capped := d.Request()
	capped.Platform.Policy.Deletion.MaxDeletesPerPlan = 2
	results, err := tg.Apply(t.Context(), capped, plan.ApplyOptions{})
	if err != nil {
		t.Fatalf("capped apply: %v", err)
	}
	if len(results) != 5 {
		t.Fatalf("capped apply: %d results, want 5", len(results))
	}
	for _, r := range results {
		if r.Action != plan.Blocked || !errors.Is(r.Err, ErrBlocked) || len(r.Notes) == 0 {
			t.Errorf("%s: %s %v, want blocked", r.Key, r.Action, r.Err)
		}
	}
	if emu.Count("services") != 3 {
		t.Fatalf("capped apply deleted services")
	}

	d.Platform.Policy.Deletion.MaxDeletesPerPlan = 20
	results = mustApply(t, tg, d.Request())
	if len(results) != 5 {
		t.Fatalf("apply: %d results, want the 5 entities of search:\n%v", len(results), results)
	}
	for _, r := range results {
		if r.Tenant != "search" || r.Action != plan.Delete || r.Err != nil {
			t.Errorf("%s: %s %v", r.Key, r.Action, r.Err)
		}
	}
	if emu.Count("services") != 2 || emu.Count("upstreams") != 1 || emu.Count("targets") != 2 {
		t.Errorf("after delete: %d services, %d upstreams, %d targets", emu.Count("services"), emu.Count("upstreams"), emu.Count("targets"))
	}
}

// TestNotOwnedIsBlocked: a service holding a desired name without the
// tenant's tags (someone else's, or another tenant's) is blocked at plan
// time with what hangs off it, left untouched by the apply, and nothing
// else of the tenants fails.
func TestNotOwnedIsBlocked(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	tg := newTarget(t, url, state.NewMemory(), newSink())
	if code, out := admin(t, http.MethodPost, url+"/services", map[string]any{"name": "search-api", "host": "foreign.internal"}); code != http.StatusCreated {
		t.Fatalf("create foreign service: %d %v", code, out)
	}
	otherTenant := map[string]any{"name": "checkout-web", "host": "payments.internal", "tags": render.Tags("payments")}
	if code, out := admin(t, http.MethodPost, url+"/services", otherTenant); code != http.StatusCreated {
		t.Fatalf("create service tagged for payments: %d %v", code, out)
	}
	found := map[plan.Key]string{
		key("search", KindService, "search-api"):     "without k3sync's tags",
		key("checkout", KindService, "checkout-web"): "tagged for tenant payments",
	}
	// What hangs off each blocked service: its routes and the plugins of
	// both.
	parents := map[plan.Key]plan.Key{}
	for svc := range found {
		k := d.kong(t, svc.Tenant)
		routes := map[string]bool{}
		for _, r := range k.Routes {
			if r.Service == svc.Name {
				routes[r.Name] = true
				parents[key(svc.Tenant, KindRoute, r.Name)] = svc
			}
		}
		for _, p := range k.Plugins {
			if p.Service == svc.Name || routes[p.Route] {
				parents[key(svc.Tenant, KindPlugin, pluginName(p))] = svc
			}
		}
	}
	if len(parents) < 3 {
		t.Fatalf("the example hangs only %d entities off the blocked services", len(parents))
	}
	// payments is not in the request: its service stays its own.
	req := d.Request()
	req.Complete = false
	req.Tenants = slices.DeleteFunc(req.Tenants, func(tr plan.TenantRequest) bool { return tr.Desired.Name == "payments" })
	changes := mustPlan(t, tg, req)
	blocked := 0
	for _, c := range changes {
		var want plan.Change
		if f, ok := found[c.Key]; ok {
			want = plan.NotOwned(c.Key, levels[c.Kind], f)
		} else if parent, ok := parents[c.Key]; ok {
			want = plan.InsideNotOwned(c.Key, levels[c.Kind], parent)
		} else {
			if c.Action != plan.Create {
				t.Errorf("%s %s: only the taken services and what hangs off them are blocked", c.Action, c.Key)
			}
			continue
		}
		blocked++
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.Key, diff)
		}
	}
	if blocked != len(found)+len(parents) {
		t.Errorf("%d changes blocked, want %d:\n%s", blocked, len(found)+len(parents), planText(t, changes))
	}

	results, err := tg.Apply(t.Context(), req, plan.ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	made := map[string]int{}
	for _, r := range results {
		if r.Err == nil {
			made[r.Tenant]++
		}
		_, isFound := found[r.Key]
		_, hangs := parents[r.Key]
		switch {
		case isFound || hangs:
			if !errors.Is(r.Err, ErrBlocked) {
				t.Errorf("%s: %v, want blocked", r.Key, r.Err)
			}
		case r.Err != nil:
			t.Errorf("%s: %v", r.Key, r.Err)
		}
	}
	for name, host := range map[string]string{"search-api": "foreign.internal", "checkout-web": "payments.internal"} {
		code, out := admin(t, http.MethodGet, url+"/services/"+name, nil)
		if code != http.StatusOK || out["host"] != host {
			t.Errorf("service %s changed: %d %v", name, code, out)
		}
		if code, out := admin(t, http.MethodGet, url+"/services/"+name+"/routes", nil); code != http.StatusOK || len(out["data"].([]any)) != 0 {
			t.Errorf("routes added to service %s: %d %v", name, code, out)
		}
		if code, out := admin(t, http.MethodGet, url+"/services/"+name+"/plugins", nil); code != http.StatusOK || len(out["data"].([]any)) != 0 {
			t.Errorf("plugins added to service %s: %d %v", name, code, out)
		}
	}
	if made["search"] == 0 { // checkout has nothing else on the gateway
		t.Errorf("search's other entities were not made: %v", made)
	}
	if got := emu.Count("services"); got != 2 {
		t.Errorf("%d services, want only the 2 taken ones", got)
	}
	// Converged: the same blocked changes, nothing else.
	again := mustPlan(t, tg, req)
	if len(again) != blocked || slices.ContainsFunc(again, func(c plan.Change) bool { return c.Action != plan.Blocked }) {
		t.Errorf("plan after apply:\n%s", planText(t, again))
	}
}

// TestDryRunApply goes through the syncer without writing, generating
// keys or saving state.
func TestDryRunApply(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	store := state.NewMemory()
	sink := newSink()
	tg := newTarget(t, url, store, sink)
	results, err := tg.Apply(t.Context(), d.Request(), plan.ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if len(results) != 26 {
		t.Errorf("dry run: %d results, want 26", len(results))
	}
	if emu.Writes() != 0 || store.Saves() != 0 || len(sink.all()) != 0 {
		t.Errorf("dry run: %d writes, %d saves, %d keys", emu.Writes(), store.Saves(), len(sink.all()))
	}
}

func key(tenant, kind, name string) plan.Key {
	return plan.Key{Tenant: tenant, System: plan.Kong, Target: gateway, Kind: kind, Name: name}
}

func ptr[T any](v T) *T { return &v }

// pluginID finds the ID of a plugin on a service.
func pluginID(t *testing.T, url, service, name string) string {
	t.Helper()
	code, out := admin(t, http.MethodGet, url+"/services/"+service+"/plugins", nil)
	if code != http.StatusOK {
		t.Fatalf("list plugins: %d", code)
	}
	for _, p := range out["data"].([]any) {
		if m := p.(map[string]any); m["name"] == name {
			return m["id"].(string)
		}
	}
	t.Fatalf("no plugin %s on %s", name, service)
	return ""
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestExamplePlanGolden renders the plan of the example repo on an empty
// gateway, then of a drifted one, as text: testdata/example-plan.txt.
func TestExamplePlanGolden(t *testing.T) {
	_, url := emulator(t, kongemu.Options{})
	d := example(t)
	tg := newTarget(t, url, state.NewMemory(), newSink())
	first := planText(t, mustPlan(t, tg, d.Request()))
	mustApply(t, tg, d.Request())
	if code, out := admin(t, http.MethodPatch, url+"/routes/payments-public", map[string]any{"paths": []string{"/pay"}}); code != http.StatusOK {
		t.Fatalf("PATCH: %d %v", code, out)
	}
	k := d.kong(t, "payments")
	k.Services[0].Retries = ptr(4)
	d.RemoveTenant("search")
	second := planText(t, mustPlan(t, tg, d.Request()))
	got := "-- empty gateway --\n" + first + "-- after apply: drift, a Git change, a tenant removed --\n" + second
	golden := filepath.Join("testdata", "example-plan.txt")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("plan text (-want +got):\n%s", diff)
	}
}
