package kong

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// adopting is req with policies.adopt set for tenants, on copies of
// their models (the example's models are shared between tests).
func adopting(t *testing.T, req plan.Request, tenants ...string) plan.Request {
	t.Helper()
	req.Tenants = slices.Clone(req.Tenants)
	for i := range req.Tenants {
		tr := &req.Tenants[i]
		if !slices.Contains(tenants, tr.Name()) {
			continue
		}
		if tr.Model == nil {
			t.Fatalf("tenant %s has no model", tr.Name())
		}
		m := *tr.Model
		m.Policies.Adopt = true
		tr.Model = &m
	}
	return req
}

// changeOf is the change of k; the test fails without one.
func changeOf(t *testing.T, changes []plan.Change, k plan.Key) plan.Change {
	t.Helper()
	for _, c := range changes {
		if c.Key == k {
			return c
		}
	}
	t.Fatalf("no change of %s:\n%s", k, planText(t, changes))
	return plan.Change{}
}

// field is the field change of path; ok false when there is none.
func field(c plan.Change, path string) (plan.FieldChange, bool) {
	for _, f := range c.Fields {
		if f.Path == path {
			return f, true
		}
	}
	return plan.FieldChange{}, false
}

// hasTenantTags reports whether an Admin API answer carries exactly
// k3sync's tags for tenant.
func hasTenantTags(out map[string]any, tenant string) bool {
	raw, _ := out["tags"].([]any)
	got := make([]string, 0, len(raw))
	for _, v := range raw {
		s, _ := v.(string)
		got = append(got, s)
	}
	want := render.Tags(tenant)
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

func mustCreate(t *testing.T, url, path string, body map[string]any) map[string]any {
	t.Helper()
	code, out := admin(t, http.MethodPost, url+path, body)
	if code != http.StatusCreated {
		t.Fatalf("POST %s: %d %v", path, code, out)
	}
	return out
}

// TestAdoptService: an untagged service made out of band, with an
// untagged route of Git's, under the names tenant checkout desires: blocked
// without policies.adopt; with it, adopted with the fields that differ,
// keeping its ID, what hangs off it planned as usual, and owned from then
// on (a second plan is empty, removing it from Git deletes it).
func TestAdoptService(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	store := state.NewMemory()
	tg := newTarget(t, url, store, newSink())
	svc := mustCreate(t, url, "/services", map[string]any{"name": "checkout-web", "host": "old.checkout.example", "port": 3000, "protocol": "http"})
	route := mustCreate(t, url, "/services/checkout-web/routes", map[string]any{"name": "checkout-web", "paths": []string{"/old"}, "hosts": []string{"shop.example.com"}})
	plugin := mustCreate(t, url, "/services/checkout-web/plugins", map[string]any{"name": "correlation-id", "config": map[string]any{"header_name": "X-Old"}})
	svcKey := key("checkout", KindService, "checkout-web")
	routeKey := key("checkout", KindRoute, "checkout-web")
	pluginKey := key("checkout", KindPlugin, "service/checkout-web/correlation-id")

	// Without adopt: blocked, as before.
	changes := mustPlan(t, tg, d.Request())
	if c := changeOf(t, changes, svcKey); c.Action != plan.Blocked || !strings.Contains(strings.Join(c.Notes, " "), "without k3sync's tags") {
		t.Fatalf("without adopt: %s %v, want blocked", c.Action, c.Notes)
	}

	req := adopting(t, d.Request(), "checkout")
	changes = mustPlan(t, tg, req)
	c := changeOf(t, changes, svcKey)
	if c.Action != plan.Adopt {
		t.Fatalf("%s planned %s, want adopt:\n%s", svcKey, c.Action, planText(t, changes))
	}
	if f, ok := field(c, "host"); !ok || f.Before != "old.checkout.example" || f.After != "web.checkout.svc.cluster.local" {
		t.Errorf("adopt fields %+v, want host old.checkout.example → web.checkout.svc.cluster.local", c.Fields)
	}
	if _, ok := field(c, "tags"); ok || c.Drift {
		t.Errorf("adopt lists tags or drift: %+v", c)
	}
	if want := plan.AdoptedNote("without k3sync's tags"); !slices.Contains(c.Notes, want) {
		t.Errorf("notes %q, want %q", c.Notes, want)
	}
	rc := changeOf(t, changes, routeKey)
	if _, ok := field(rc, "paths"); rc.Action != plan.Adopt || !ok {
		t.Errorf("route: %s %+v, want adopt with paths", rc.Action, rc.Fields)
	}
	pc := changeOf(t, changes, pluginKey)
	if f, ok := field(pc, "config.header_name"); pc.Action != plan.Adopt || !ok || f.After != "X-Request-ID" {
		t.Errorf("plugin: %s %+v, want adopt with config.header_name", pc.Action, pc.Fields)
	}
	for _, ch := range changes {
		if ch.Tenant == "checkout" && ch.Kind == KindPlugin && ch.Key != pluginKey && ch.Action != plan.Create {
			t.Errorf("%s: %s, want create", ch.Key, ch.Action)
		}
		if ch.Action == plan.Blocked {
			t.Errorf("%s blocked with adopt", ch.Key)
		}
	}
	if s := (&plan.Plan{Changes: changes}).Summary(); s.Adopt != 3 {
		t.Errorf("summary %s, want 3 to adopt", s)
	}

	// A dry run adopts nothing.
	dry, err := tg.Apply(t.Context(), req, plan.ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if r := slices.IndexFunc(dry, func(r plan.Result) bool { return r.Key == svcKey && r.Action == plan.Adopt && r.Err == nil }); r < 0 {
		t.Errorf("dry run results lack the adopt of %s", svcKey)
	}
	if _, out := admin(t, http.MethodGet, url+"/services/checkout-web", nil); out["tags"] != nil || out["host"] != "old.checkout.example" {
		t.Fatalf("dry run wrote the service: %v", out)
	}
	if e, err := store.Load(t.Context(), "checkout", tg.stateID); err != nil || e.Owns(entityID(KindService, "checkout-web")) {
		t.Fatalf("dry run recorded the service: %v", err)
	}

	results := mustApply(t, tg, req)
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Key, r.Err)
		}
	}
	_, after := admin(t, http.MethodGet, url+"/services/checkout-web", nil)
	if after["id"] != svc["id"] {
		t.Errorf("service ID %v, was %v: recreated instead of adopted", after["id"], svc["id"])
	}
	if !hasTenantTags(after, "checkout") || after["host"] != "web.checkout.svc.cluster.local" {
		t.Errorf("service after adopt: tags %v host %v", after["tags"], after["host"])
	}
	_, rAfter := admin(t, http.MethodGet, url+"/routes/checkout-web", nil)
	if rAfter["id"] != route["id"] || !hasTenantTags(rAfter, "checkout") {
		t.Errorf("route after adopt: %v", rAfter)
	}
	_, plugins := admin(t, http.MethodGet, url+"/services/checkout-web/plugins", nil)
	if n := len(plugins["data"].([]any)); n != 2 {
		t.Errorf("%d plugins on the adopted service, want Git's 2", n)
	}
	_, pAfter := admin(t, http.MethodGet, url+"/plugins/"+plugin["id"].(string), nil)
	if cfg, _ := pAfter["config"].(map[string]any); !hasTenantTags(pAfter, "checkout") || cfg["header_name"] != "X-Request-ID" {
		t.Errorf("plugin after adopt: %v", pAfter)
	}
	entry, err := store.Load(t.Context(), "checkout", tg.stateID)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{entityID(KindService, "checkout-web"), entityID(KindRoute, "checkout-web"), entityID(KindPlugin, pluginKey.Name)} {
		if !applied(entry, id) {
			t.Errorf("%s not recorded after adopt: %q", id, entry.Resources[id])
		}
	}
	if again := mustPlan(t, tg, req); len(again) != 0 {
		t.Fatalf("plan after adopt:\n%s", planText(t, again))
	}

	// Owned now: removing it from Git deletes it, with what hangs off it.
	k := d.kong(t, "checkout")
	k.Services, k.Routes, k.Plugins = nil, nil, nil
	changes = mustPlan(t, tg, req)
	if c := changeOf(t, changes, svcKey); c.Action != plan.Delete {
		t.Fatalf("%s after removal from Git: %s, want delete", svcKey, c.Action)
	}
	mustApply(t, tg, req)
	if code, _ := admin(t, http.MethodGet, url+"/services/checkout-web", nil); code != http.StatusNotFound {
		t.Errorf("GET adopted service after its removal from Git: %d", code)
	}
	if n := emu.Count("plugins"); n != pluginsLeft(t, d) {
		t.Errorf("%d plugins left, want the other tenants' %d", n, pluginsLeft(t, d))
	}
}

// pluginsLeft is the number of plugins the example's tenants desire.
func pluginsLeft(t *testing.T, d *desired) int {
	t.Helper()
	n := 0
	for _, tn := range d.Tenants {
		if tn.Kong != nil {
			n += len(tn.Kong.Plugins)
		}
	}
	return n
}

// TestAdoptNoDifferences: an entity that matches Git but for k3sync's tags
// is one adopt change without fields, whose apply writes the tags only;
// one that already carries the tenant's tags but that no inventory holds
// is adopted without any write.
func TestAdoptNoDifferences(t *testing.T) {
	for _, tagged := range []bool{false, true} {
		name := "untagged"
		if tagged {
			name = "tagged for the tenant, not in its inventory"
		}
		t.Run(name, func(t *testing.T) {
			emu, url := emulator(t, kongemu.Options{})
			d := example(t)
			store := state.NewMemory()
			tg := newTarget(t, url, store, newSink())
			body := map[string]any{"name": "checkout-web", "url": "http://web.checkout.svc.cluster.local:3000"}
			if tagged {
				body["tags"] = render.Tags("checkout")
			}
			mustCreate(t, url, "/services", body)
			_, before := admin(t, http.MethodGet, url+"/services/checkout-web", nil)

			// Checkout only: the service writes counted are its.
			req := adopting(t, d.Request(), "checkout")
			req.Complete = false
			req.Tenants = slices.DeleteFunc(req.Tenants, func(tr plan.TenantRequest) bool { return tr.Name() != "checkout" })
			changes := mustPlan(t, tg, req)
			svcKey := key("checkout", KindService, "checkout-web")
			found := "without k3sync's tags"
			if tagged {
				found = notInInventory
			}
			var adopts int
			for _, c := range changes {
				if c.Action == plan.Adopt {
					adopts++
				}
			}
			c := changeOf(t, changes, svcKey)
			if adopts != 1 || c.Action != plan.Adopt || len(c.Fields) != 0 || !slices.Contains(c.Notes, plan.AdoptedNote(found)) {
				t.Fatalf("want one adopt of %s without fields (%s):\n%s", svcKey, found, planText(t, changes))
			}

			emu.ResetStats()
			mustApply(t, tg, req)
			svcWrites := 0
			for k, v := range emu.Stats() {
				if m, route, _ := strings.Cut(k, " "); m != http.MethodGet && strings.HasPrefix(route, "/services/") && !strings.Contains(route[len("/services/"):], "/") {
					svcWrites += v
				}
			}
			if want := map[bool]int{false: 1, true: 0}[tagged]; svcWrites != want {
				t.Errorf("%d writes of the service, want %d (stats %v)", svcWrites, want, emu.Stats())
			}
			_, after := admin(t, http.MethodGet, url+"/services/checkout-web", nil)
			if !hasTenantTags(after, "checkout") {
				t.Errorf("tags after adopt: %v", after["tags"])
			}
			for k, v := range before {
				if k == "tags" || k == "updated_at" {
					continue
				}
				if b, _ := json.Marshal(v); string(b) != string(mustJSON(t, after[k])) {
					t.Errorf("%s changed by the adopt: %s → %s", k, b, mustJSON(t, after[k]))
				}
			}
			entry, err := store.Load(t.Context(), "checkout", tg.stateID)
			if err != nil {
				t.Fatal(err)
			}
			if !applied(entry, entityID(KindService, "checkout-web")) {
				t.Errorf("not recorded: %q", entry.Resources[entityID(KindService, "checkout-web")])
			}
			if again := mustPlan(t, tg, req); len(again) != 0 {
				t.Fatalf("plan after adopt:\n%s", planText(t, again))
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAdoptNeverTakesFromAnotherTenant: an entity another tenant's
// inventory holds (its tags removed out of band), or one tagged for
// another tenant, stays blocked with adopt, and is left as it was.
func TestAdoptNeverTakesFromAnotherTenant(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, url string, tg *Target)
		found string
	}{
		{"in another tenant's inventory", func(t *testing.T, url string, tg *Target) {
			mustCreate(t, url, "/services", map[string]any{"name": "checkout-web", "host": "x.example", "port": 80, "protocol": "http"})
			e := state.Entry{Tenant: "legacy", Target: tg.stateID, Resources: map[string]json.RawMessage{
				entityID(KindService, "checkout-web"): json.RawMessage(`{"name":"checkout-web"}`),
			}}
			if err := tg.store.Save(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}, "in the inventory of tenant legacy"},
		{"tagged for another tenant", func(t *testing.T, url string, _ *Target) {
			mustCreate(t, url, "/services", map[string]any{"name": "checkout-web", "host": "x.example", "port": 80, "protocol": "http", "tags": render.Tags("payments")})
		}, "tagged for tenant payments"},
		{"marked for another tenant without the k3sync tag", func(t *testing.T, url string, _ *Target) {
			mustCreate(t, url, "/services", map[string]any{"name": "checkout-web", "host": "x.example", "port": 80, "protocol": "http", "tags": []string{render.TagTenantPref + "payments"}})
		}, "tagged for tenant payments"},
	}
	t.Run("adopted by another tenant in the same plan", func(t *testing.T) {
		_, url := emulator(t, kongemu.Options{})
		d := example(t)
		tg := newTarget(t, url, state.NewMemory(), newSink())
		mustCreate(t, url, "/services", map[string]any{"name": "checkout-web", "host": "x.example", "port": 80, "protocol": "http"})
		search := d.kong(t, "search")
		search.Services = append(search.Services, d.kong(t, "checkout").Services[0])
		search.Services[len(search.Services)-1].Tags = render.Tags("search")
		changes := mustPlan(t, tg, adopting(t, d.Request(), "checkout", "search"))
		if c := changeOf(t, changes, key("checkout", KindService, "checkout-web")); c.Action != plan.Adopt {
			t.Errorf("checkout: %s, want adopt", c.Action)
		}
		c := changeOf(t, changes, key("search", KindService, "checkout-web"))
		if want := plan.NotOwnedNote("adopted by tenant checkout in the same plan"); c.Action != plan.Blocked || !slices.Contains(c.Notes, want) {
			t.Errorf("search: %s %q, want blocked", c.Action, c.Notes)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, url := emulator(t, kongemu.Options{})
			d := example(t)
			tg := newTarget(t, url, state.NewMemory(), newSink())
			tc.setup(t, url, tg)
			_, before := admin(t, http.MethodGet, url+"/services/checkout-web", nil)
			req := adopting(t, d.Request(), "checkout")
			changes := mustPlan(t, tg, req)
			c := changeOf(t, changes, key("checkout", KindService, "checkout-web"))
			if c.Action != plan.Blocked || !slices.Contains(c.Notes, plan.NotOwnedNote(tc.found)) {
				t.Fatalf("%s: %s %q, want blocked (%s)", c.Key, c.Action, c.Notes, tc.found)
			}
			for _, ch := range changes {
				if ch.Action == plan.Adopt {
					t.Errorf("%s adopted", ch.Key)
				}
			}
			mustApply(t, tg, req)
			_, after := admin(t, http.MethodGet, url+"/services/checkout-web", nil)
			if string(mustJSON(t, before)) != string(mustJSON(t, after)) {
				t.Errorf("service changed:\n%v\n%v", before, after)
			}
			entry, err := tg.store.Load(t.Context(), "checkout", tg.stateID)
			if err != nil {
				t.Fatal(err)
			}
			if entry.Owns(entityID(KindService, "checkout-web")) {
				t.Error("recorded in checkout's inventory")
			}
		})
	}
}

// TestAdoptConsumerKeepsKey: a consumer made out of band with a key-auth
// key is adopted with its credential: the key keeps working (same
// credential, same key), none is generated or delivered, no plan or
// result holds it, its digest is recorded, and a later change of the key
// by hand is drift.
func TestAdoptConsumerKeepsKey(t *testing.T) {
	_, url := emulator(t, kongemu.Options{})
	d := example(t)
	store := state.NewMemory()
	sink := newSink()
	tg := newTarget(t, url, store, sink)
	const handKey = "hand-made-key-0123456789-abcdefghij"
	consumer := mustCreate(t, url, "/consumers", map[string]any{"username": "payments-mobile"})
	cred := mustCreate(t, url, "/consumers/payments-mobile/key-auth", map[string]any{"key": handKey})

	req := adopting(t, d.Request(), "payments")
	changes := mustPlan(t, tg, req)
	if c := changeOf(t, changes, key("payments", KindConsumer, "payments-mobile")); c.Action != plan.Adopt {
		t.Fatalf("consumer: %s, want adopt:\n%s", c.Action, planText(t, changes))
	}
	credKey := key("payments", KindCredential, "payments-mobile/key-auth")
	if c := changeOf(t, changes, credKey); c.Action != plan.Adopt || len(c.Fields) != 0 {
		t.Fatalf("credential: %s %+v, want adopt without fields", c.Action, c.Fields)
	}
	if c := changeOf(t, changes, key("payments", KindACLGroup, "payments-mobile/payments-partners")); c.Action != plan.Create {
		t.Errorf("ACL group of the adopted consumer: %s, want create", c.Action)
	}
	if b := mustJSON(t, changes); strings.Contains(string(b), handKey) || strings.Contains(planText(t, changes), handKey) {
		t.Fatal("the plan holds the key")
	}

	results := mustApply(t, tg, req)
	if b := mustJSON(t, results); strings.Contains(string(b), handKey) {
		t.Fatal("the results hold the key")
	}
	if got := sink.key("payments/payments-mobile"); got != "" {
		t.Errorf("a key was delivered for the adopted consumer")
	}
	if sink.key("payments/payments-partner-acme") == "" {
		t.Errorf("the other consumer got no key")
	}
	_, c := admin(t, http.MethodGet, url+"/consumers/payments-mobile", nil)
	if c["id"] != consumer["id"] || !hasTenantTags(c, "payments") {
		t.Errorf("consumer after adopt: %v", c)
	}
	code, k := admin(t, http.MethodGet, url+"/consumers/payments-mobile/key-auth/"+cred["id"].(string), nil)
	if code != http.StatusOK || k["key"] != handKey || !hasTenantTags(k, "payments") {
		t.Fatalf("credential after adopt: %d tags %v, same key %v", code, k["tags"], k["key"] == handKey)
	}
	_, all := admin(t, http.MethodGet, url+"/consumers/payments-mobile/key-auth", nil)
	if n := len(all["data"].([]any)); n != 1 {
		t.Errorf("%d credentials, want the adopted one only", n)
	}
	entry, err := store.Load(t.Context(), "payments", tg.stateID)
	if err != nil {
		t.Fatal(err)
	}
	if got := recordedKeySum(entry, entityID(KindCredential, "payments-mobile/key-auth")); got != keySum(handKey) {
		t.Errorf("recorded digest %q, want the adopted key's", got)
	}
	if again := mustPlan(t, tg, req); len(again) != 0 {
		t.Fatalf("plan after adopt:\n%s", planText(t, again))
	}

	// The key changed by hand: drift, replaced with a new key.
	if code, out := admin(t, http.MethodPatch, url+"/consumers/payments-mobile/key-auth/"+cred["id"].(string), map[string]any{"key": "changed-by-hand-0123456789"}); code != http.StatusOK {
		t.Fatalf("PATCH key: %d %v", code, out)
	}
	changes = mustPlan(t, tg, req)
	if c := changeOf(t, changes, credKey); c.Action != plan.Update || !c.Drift {
		t.Fatalf("credential after a change by hand: %s drift %v, want a drifted update", c.Action, c.Drift)
	}
	if b := mustJSON(t, changes); strings.Contains(string(b), "changed-by-hand") {
		t.Fatal("the plan holds the key")
	}
}
