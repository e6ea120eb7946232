package kong

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// quickAndSyncer plans req with an empty memo twice: as plans run (the
// quick check, then batches), then with go-database-reconciler's syncer
// alone, each tenant diffed apart. It returns both plans, their errors
// and how many tenants the quick check concluded.
func quickAndSyncer(t *testing.T, tg *Target, req plan.Request) (quick, syncer []plan.Change, n int64, errQuick, errSyncer error) {
	t.Helper()
	tg.forget()
	before := tg.quick.Load()
	quick, errQuick = tg.Plan(t.Context(), req)
	n = tg.quick.Load() - before
	tg.forget()
	quickChecks, batchDiffs = false, false
	defer func() { quickChecks, batchDiffs = true, true }()
	syncer, errSyncer = tg.Plan(t.Context(), req)
	tg.forget()
	return quick, syncer, n, errQuick, errSyncer
}

// listed is the entities a list of the Admin API at url answers (its
// first page), or fails.
func listed(t *testing.T, url string) []map[string]any {
	t.Helper()
	code, out := admin(t, http.MethodGet, url, nil)
	data, ok := out["data"].([]any)
	if code != http.StatusOK || !ok {
		t.Fatalf("GET %s: %d %v", url, code, out)
	}
	es := make([]map[string]any, 0, len(data))
	for _, e := range data {
		es = append(es, e.(map[string]any))
	}
	return es
}

// listedID is the ID of the first entity a list answers whose field has
// the value, or fails.
func listedID(t *testing.T, url, field, value string) string {
	t.Helper()
	for _, e := range listed(t, url) {
		if e[field] == value {
			return e["id"].(string)
		}
	}
	t.Fatalf("GET %s: no entity with %s %q", url, field, value)
	return ""
}

// TestQuickCheckAgreesWithSyncer changes one thing of payments at a time
// — an edit made outside k3sync to each kind of entity and to fields
// k3sync never sets, an entity deleted, a change in Git — and plans with
// the quick check and with the syncer alone. The plans are the same, the
// change is in them, and the quick check concluded exactly the two
// untouched tenants (checkout and search): a quick check that missed a
// difference would conclude payments too, and its plan would lack the
// change. Reordered tags, which the syncer ignores, are not a change for
// either.
func TestQuickCheckAgreesWithSyncer(t *testing.T) {
	const svc, public, webhooks, consumer, upstream = "payments-api", "payments-public", "payments-webhooks", "payments-partner-acme", "payments-api"
	plugin := func(t *testing.T, base, name string) string {
		return listedID(t, base+"/plugins", "name", name)
	}
	patch := func(path string, body map[string]any) func(t *testing.T, url string, d *desired) {
		return func(t *testing.T, url string, _ *desired) {
			t.Helper()
			if code, out := admin(t, http.MethodPatch, url+path, body); code != http.StatusOK {
				t.Fatalf("PATCH %s: %d %v", path, code, out)
			}
		}
	}
	patchFound := func(list func(t *testing.T, url string) string, body map[string]any) func(t *testing.T, url string, d *desired) {
		return func(t *testing.T, url string, d *desired) {
			t.Helper()
			patch(list(t, url), body)(t, url, d)
		}
	}
	del := func(list func(t *testing.T, url string) string) func(t *testing.T, url string, d *desired) {
		return func(t *testing.T, url string, _ *desired) {
			t.Helper()
			path := list(t, url)
			if code, out := admin(t, http.MethodDelete, url+path, nil); code != http.StatusNoContent {
				t.Fatalf("DELETE %s: %d %v", path, code, out)
			}
		}
	}
	servicePlugin := func(name string) func(t *testing.T, url string) string {
		return func(t *testing.T, url string) string {
			return "/plugins/" + plugin(t, url+"/services/"+svc, name)
		}
	}
	consumerPlugin := func(t *testing.T, url string) string {
		return "/plugins/" + plugin(t, url+"/consumers/"+consumer, "rate-limiting")
	}
	routePlugin := func(t *testing.T, url string) string {
		return "/plugins/" + plugin(t, url+"/routes/"+webhooks, "request-transformer")
	}
	acl := func(t *testing.T, url string) string {
		return "/consumers/" + consumer + "/acls/" + listedID(t, url+"/consumers/"+consumer+"/acls", "group", "payments-partners")
	}
	keyAuth := func(t *testing.T, url string) string {
		keys := listed(t, url+"/consumers/"+consumer+"/key-auth")
		if len(keys) != 1 {
			t.Fatalf("key-auth of %s: %v", consumer, keys)
		}
		return "/consumers/" + consumer + "/key-auth/" + keys[0]["id"].(string)
	}
	target := func(addr string) func(t *testing.T, url string) string {
		return func(t *testing.T, url string) string {
			return "/upstreams/" + upstream + "/targets/" + listedID(t, url+"/upstreams/"+upstream+"/targets", "target", addr)
		}
	}
	route := func(name string) func(t *testing.T, url string) string {
		return func(*testing.T, string) string { return "/routes/" + name }
	}
	git := func(edit func(k *render.KongResources)) func(t *testing.T, url string, d *desired) {
		return func(t *testing.T, _ string, d *desired) { edit(d.kong(t, "payments")) }
	}
	routeIn := func(k *render.KongResources, name string) *render.KongRoute {
		i := slices.IndexFunc(k.Routes, func(r render.KongRoute) bool { return r.Name == name })
		return &k.Routes[i]
	}
	pluginIn := func(k *render.KongResources, name, consumer string) *render.KongPlugin {
		i := slices.IndexFunc(k.Plugins, func(p render.KongPlugin) bool { return p.Name == name && p.Consumer == consumer })
		return &k.Plugins[i]
	}

	cases := []struct {
		name   string
		change func(t *testing.T, url string, d *desired)
		noop   bool // the syncer finds nothing to do
		fails  bool // the tenant cannot be planned
	}{
		{"service host", patch("/services/"+svc, map[string]any{"host": "elsewhere.example"}), false, false},
		{"service field k3sync never sets", patch("/services/"+svc, map[string]any{"protocol": "https", "tls_verify": true}), false, false},
		{"service disabled", patch("/services/"+svc, map[string]any{"enabled": false}), false, false},
		{"service read timeout back to its default", patch("/services/"+svc, map[string]any{"read_timeout": 60001}), false, false},
		{"service tag added", patch("/services/"+svc, map[string]any{"tags": []string{"k3sync", "k3sync-tenant:payments", "extra"}}), false, false},
		{"service tags reordered", patch("/services/"+svc, map[string]any{"tags": []string{"k3sync-tenant:payments", "k3sync"}}), true, false},
		{"route paths", patch("/routes/"+public, map[string]any{"paths": []string{"/elsewhere"}}), false, false},
		{"route field k3sync never sets", patch("/routes/"+public, map[string]any{"regex_priority": 5}), false, false},
		{"route redirect code", patch("/routes/"+public, map[string]any{"https_redirect_status_code": 301}), false, false},
		{"route strip_path", patch("/routes/"+webhooks, map[string]any{"strip_path": true}), false, false},
		{"route buffering", patch("/routes/"+public, map[string]any{"request_buffering": false}), false, false},
		{"service plugin config", patchFound(servicePlugin("rate-limiting"), map[string]any{"config": map[string]any{"minute": 601}}), false, false},
		{"service plugin config field k3sync never sets", patchFound(servicePlugin("rate-limiting"), map[string]any{"config": map[string]any{"hour": 100000}}), false, false},
		{"service plugin disabled", patchFound(servicePlugin("acl"), map[string]any{"enabled": false}), false, false},
		{"service plugin protocols", patchFound(servicePlugin("key-auth"), map[string]any{"protocols": []string{"https"}}), false, false},
		{"service plugin array in config", patchFound(servicePlugin("key-auth"), map[string]any{"config": map[string]any{"key_names": []string{"apikey", "x-key"}}}), false, false},
		{"route plugin nested record", patchFound(routePlugin, map[string]any{"config": map[string]any{"add": map[string]any{"headers": []string{"x-source:other"}}}}), false, false},
		{"consumer plugin config", patchFound(consumerPlugin, map[string]any{"config": map[string]any{"minute": 121}}), false, false},
		{"consumer custom_id", patch("/consumers/"+consumer, map[string]any{"custom_id": "acme-002"}), false, false},
		{"consumer tag added", patch("/consumers/"+consumer, map[string]any{"tags": []string{"k3sync", "k3sync-tenant:payments", "extra"}}), false, false},
		{"ACL group renamed", patchFound(acl, map[string]any{"group": "payments-others"}), false, false},
		{"ACL group tag added", patchFound(acl, map[string]any{"tags": []string{"k3sync", "k3sync-tenant:payments", "extra"}}), false, false},
		{"upstream algorithm", patch("/upstreams/"+upstream, map[string]any{"algorithm": "round-robin"}), false, false},
		{"upstream field k3sync never sets", patch("/upstreams/"+upstream, map[string]any{"slots": 100}), false, false},
		{"upstream nested health check", patch("/upstreams/"+upstream, map[string]any{"healthchecks": map[string]any{"active": map[string]any{"timeout": 5}}}), false, false},
		{"target weight", patchFound(target("api-canary.payments.svc:8080"), map[string]any{"weight": 50}), false, false},
		{"target deleted", del(target("api.payments.svc.cluster.local:8080")), false, false},
		{"route deleted", del(route(webhooks)), false, false},
		{"service plugin deleted", del(servicePlugin("key-auth")), false, false},
		{"consumer plugin deleted", del(consumerPlugin), false, false},
		{"ACL group deleted", del(acl), false, false},
		{"Git: route methods", git(func(k *render.KongResources) { routeIn(k, public).Methods = []string{"GET"} }), false, false},
		{"Git: route added", git(func(k *render.KongResources) {
			r := *routeIn(k, public)
			r.Name, r.Paths = "payments-extra", []string{"/extra"}
			k.Routes = append(k.Routes, r)
		}), false, false},
		{"Git: plugin config", git(func(k *render.KongResources) { pluginIn(k, "rate-limiting", "").Config["minute"] = 700 }), false, false},
		{"Git: consumer plugin dropped", git(func(k *render.KongResources) {
			k.Plugins = slices.DeleteFunc(k.Plugins, func(p render.KongPlugin) bool { return p.Consumer != "" })
		}), false, false},
		{"Git: target weight", git(func(k *render.KongResources) { k.Upstreams[0].Targets[1].Weight = 20 }), false, false},
		{"Git: consumer groups", git(func(k *render.KongResources) { k.Consumers[0].ACLGroups = nil }), false, false},
		// As many desired plugins as live ones, but one twice: both would
		// meet one live plugin, and the other live one would be deleted.
		{"Git: a plugin twice, another dropped", git(func(k *render.KongResources) {
			k.Plugins = slices.DeleteFunc(k.Plugins, func(p render.KongPlugin) bool { return p.Consumer != "" })
			k.Plugins = append(k.Plugins, *pluginIn(k, "acl", ""))
		}), false, true},
		// Hostile: payments wants a service named by checkout's service's
		// ID, which go-database-reconciler looks up by ID. The check leaves
		// payments to the syncer, and checkout, untouched, is concluded.
		{"Git: a service named by another tenant's service ID", func(t *testing.T, url string, d *desired) {
			t.Helper()
			id := listedID(t, url+"/services", "name", "checkout-web")
			k := d.kong(t, "payments")
			k.Services = append(k.Services, render.KongService{
				Name: id, Protocol: "http", Host: "payments.example", Port: 80, Tags: render.Tags("payments"),
			})
		}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg, d, url := appliedExample(t)
			tc.change(t, url, d)
			quick, syncer, n, errQ, errS := quickAndSyncer(t, tg, d.Request())
			if tc.fails {
				if errQ == nil || errText(errQ) != errText(errS) || n != 2 {
					t.Errorf("plans: %v / %v, want the same error for payments; the quick check concluded %d tenants, want 2", errQ, errS, n)
				}
				return
			}
			if errQ != nil || errS != nil {
				t.Fatalf("plans: %v / %v", errQ, errS)
			}
			if diff := cmp.Diff(syncer, quick); diff != "" {
				t.Errorf("plan with the quick check (-syncer +quick):\n%s", diff)
			}
			if tc.noop {
				if len(syncer) != 0 {
					t.Errorf("the syncer plans:\n%s", planText(t, syncer))
				}
				return
			}
			if !slices.ContainsFunc(syncer, func(c plan.Change) bool { return c.Tenant == "payments" }) {
				t.Fatalf("the syncer plans nothing for payments: the change did not take")
			}
			if n != 2 {
				t.Errorf("the quick check concluded %d tenants, want 2 (checkout and search)", n)
			}
		})
	}

	// A key-auth credential deleted outside k3sync is k3sync's own to
	// plan (planCredentials), after the diff, whichever ran: the quick
	// check concludes payments' diff, and both plans create a new key.
	tg, d, url := appliedExample(t)
	del(keyAuth)(t, url, d)
	quick, syncer, n, errQ, errS := quickAndSyncer(t, tg, d.Request())
	if errQ != nil || errS != nil {
		t.Fatalf("plans: %v / %v", errQ, errS)
	}
	if diff := cmp.Diff(syncer, quick); diff != "" {
		t.Errorf("plan with the quick check (-syncer +quick):\n%s", diff)
	}
	if len(quick) != 1 || quick[0].Kind != KindCredential || quick[0].Action != plan.Create || n != 3 {
		t.Errorf("the quick check concluded %d tenants (want 3) and planned:\n%s", n, planText(t, quick))
	}
}

// TestQuickCheckConcludesUntouched: on a gateway that matches Git, the
// quick check concludes every tenant, so no syncer runs, for the example
// tenants and for generated ones.
func TestQuickCheckConcludesUntouched(t *testing.T) {
	tg, d, _ := appliedExample(t)
	quick, syncer, n, errQ, errS := quickAndSyncer(t, tg, d.Request())
	if errQ != nil || errS != nil || len(quick) != 0 || len(syncer) != 0 {
		t.Fatalf("plans after apply: %v / %v:\n%s\n%s", errQ, errS, planText(t, quick), planText(t, syncer))
	}
	if n != 3 {
		t.Errorf("the quick check concluded %d tenants of the example, want 3", n)
	}

	_, url := emulator(t, kongemu.Options{})
	tg = newTarget(t, url, state.NewMemory(), newSink())
	req := syntheticRequest(6, 3)
	mustApply(t, tg, req)
	tg.forget()
	before, diffs := tg.quick.Load(), tg.diffs.Load()
	if changes := mustPlan(t, tg, req); len(changes) != 0 {
		t.Fatalf("plan after apply:\n%s", planText(t, changes))
	}
	if got, all := tg.quick.Load()-before, tg.diffs.Load()-diffs; got != 6 || all != 6 {
		t.Errorf("the quick check concluded %d of %d tenants diffed, want all 6", got, all)
	}
}

// TestQuickCheckAgreesOnRandomEdits makes two or three edits at a time,
// drawn from a fixed seed, to entities of every tenant of the example on
// the gateway — fields k3sync sets and fields it does not, values that
// differ and values that equal what is there or the schema's default —
// and compares the plan with the quick check with the syncer's alone.
// An edit the emulator refuses is drawn again.
func TestQuickCheckAgreesOnRandomEdits(t *testing.T) {
	edits := map[string][]map[string]any{
		"services": {
			{"host": "elsewhere.example"}, {"port": 9999}, {"retries": 5}, {"read_timeout": 60000},
			{"enabled": true}, {"enabled": false}, {"path": "/other"}, {"write_timeout": 1000},
		},
		"routes": {
			{"paths": []string{"/x"}}, {"strip_path": false}, {"strip_path": true}, {"preserve_host": true},
			{"regex_priority": 0}, {"regex_priority": 3}, {"https_redirect_status_code": 426},
			{"path_handling": "v1"}, {"request_buffering": true}, {"methods": []string{"PUT"}},
		},
		"upstreams": {
			{"slots": 10000}, {"slots": 200}, {"algorithm": "round-robin"},
			{"healthchecks": map[string]any{"active": map[string]any{"timeout": 1}}},
			{"healthchecks": map[string]any{"active": map[string]any{"timeout": 7}}},
		},
		"consumers": {{"custom_id": "someone-else"}},
		"plugins": {
			{"enabled": true}, {"enabled": false}, {"protocols": []string{"http", "https"}},
			{"protocols": []string{"grpc", "grpcs", "http", "https"}},
		},
		"targets": {{"weight": 100}, {"weight": 33}},
	}
	kinds := slices.Sorted(maps.Keys(edits))
	rng := rand.New(rand.NewPCG(18, 2026))
	for round := range 40 {
		tg, d, url := appliedExample(t)
		var made []string
		for len(made) < 2+round%2 {
			kind := kinds[rng.IntN(len(kinds))]
			var path string
			if kind == "targets" {
				ups := listed(t, url+"/upstreams")
				u := ups[rng.IntN(len(ups))]["id"].(string)
				ts := listed(t, url+"/upstreams/"+u+"/targets")
				if len(ts) == 0 {
					continue
				}
				path = "/upstreams/" + u + "/targets/" + ts[rng.IntN(len(ts))]["id"].(string)
			} else {
				es := listed(t, url+"/"+kind)
				path = "/" + kind + "/" + es[rng.IntN(len(es))]["id"].(string)
			}
			body := edits[kind][rng.IntN(len(edits[kind]))]
			if code, _ := admin(t, http.MethodPatch, url+path, body); code != http.StatusOK {
				continue
			}
			made = append(made, fmt.Sprintf("PATCH %s %v", path, body))
		}
		quick, syncer, _, errQ, errS := quickAndSyncer(t, tg, d.Request())
		if errText(errQ) != errText(errS) {
			t.Errorf("round %d, %v: errors: quick %v, syncer %v", round, made, errQ, errS)
		}
		if diff := cmp.Diff(syncer, quick); diff != "" {
			t.Errorf("round %d, %v: plan with the quick check (-syncer +quick):\n%s", round, made, diff)
		}
	}
}
