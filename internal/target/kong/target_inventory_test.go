package kong

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// TestTaggedNotInInventoryIsBlocked: an entity tagged for tenant payments
// out of band, with a name payments desires, is not payments' (its
// inventory does not list it): the plan blocks it with what hangs off it,
// and the apply leaves it as it was.
func TestTaggedNotInInventoryIsBlocked(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	tg := newTarget(t, url, state.NewMemory(), newSink())
	forged := map[string]any{"name": "payments-api", "host": "attacker.example", "port": 443, "protocol": "https", "tags": render.Tags("payments")}
	if code, out := admin(t, http.MethodPost, url+"/services", forged); code != http.StatusCreated {
		t.Fatalf("create tagged service: %d %v", code, out)
	}
	_, before := admin(t, http.MethodGet, url+"/services/payments-api", nil)

	svc := key("payments", KindService, "payments-api")
	hangs := map[plan.Key]bool{}
	k := d.kong(t, "payments")
	routes := map[string]bool{}
	for _, r := range k.Routes {
		if r.Service == svc.Name {
			routes[r.Name] = true
			hangs[key("payments", KindRoute, r.Name)] = true
		}
	}
	for _, p := range k.Plugins {
		if p.Service == svc.Name || routes[p.Route] {
			hangs[key("payments", KindPlugin, pluginName(p))] = true
		}
	}
	changes := mustPlan(t, tg, d.Request())
	var blocked int
	for _, c := range changes {
		switch {
		case c.Key == svc:
			blocked++
			if diff := cmp.Diff(plan.NotOwned(svc, levels[KindService], notInInventory), c); diff != "" {
				t.Errorf("%s (-want +got):\n%s", c.Key, diff)
			}
		case hangs[c.Key]:
			blocked++
			if diff := cmp.Diff(plan.InsideNotOwned(c.Key, levels[c.Kind], svc), c); diff != "" {
				t.Errorf("%s (-want +got):\n%s", c.Key, diff)
			}
		case c.Action != plan.Create:
			t.Errorf("%s %s: only the forged service and what hangs off it are blocked", c.Action, c.Key)
		}
	}
	if blocked != 1+len(hangs) {
		t.Fatalf("%d changes blocked, want %d:\n%s", blocked, 1+len(hangs), planText(t, changes))
	}
	if !strings.Contains(planText(t, changes), "tagged for this tenant but not in its inventory") {
		t.Errorf("plan does not say why:\n%s", planText(t, changes))
	}

	results, err := tg.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, r := range results {
		if (r.Key == svc || hangs[r.Key]) && !errors.Is(r.Err, plan.ErrBlocked) {
			t.Errorf("%s: %v, want blocked", r.Key, r.Err)
		}
	}
	_, after := admin(t, http.MethodGet, url+"/services/payments-api", nil)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("forged service changed by the apply (-before +after):\n%s", diff)
	}
	for _, sub := range []string{"routes", "plugins"} {
		if code, out := admin(t, http.MethodGet, url+"/services/payments-api/"+sub, nil); code != http.StatusOK || len(out["data"].([]any)) != 0 {
			t.Errorf("%s added to the forged service: %d %v", sub, code, out)
		}
	}
	if emu.Count("services") != 3 {
		t.Errorf("%d services, want the example's 3 (one of them the forged one)", emu.Count("services"))
	}
	// Never recorded: the inventory still does not own it.
	entry, err := tg.store.Load(t.Context(), "payments", tg.stateID)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Owns(entityID(KindService, "payments-api")) {
		t.Error("the forged service was recorded in payments' inventory")
	}
}

// failOnce answers the first create of a service (POST /services, or PUT
// /services/{id} as go-kong sends it when the syncer gives an ID) with a
// 500, after forwarding it (forward: the entity is made, the answer lost)
// or without (nothing made).
type failOnce struct {
	base    http.RoundTripper
	forward bool
	done    atomic.Bool
}

func (f *failOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	create := r.Method == http.MethodPost && r.URL.Path == "/services" ||
		r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/services/") && strings.Count(r.URL.Path, "/") == 2
	if !create || !f.done.CompareAndSwap(false, true) {
		return f.base.RoundTrip(r) //nolint:wrapcheck // test transport
	}
	if f.forward {
		resp, err := f.base.RoundTrip(r)
		if err != nil {
			return nil, err //nolint:wrapcheck // test transport
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	return &http.Response{
		Status: "500 Internal Server Error", StatusCode: http.StatusInternalServerError,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(`{"message":"An unexpected error occurred"}`)),
		Request: r,
	}, nil
}

// TestWriteAheadOwnsFailedCreates: before the syncer creates anything,
// the inventory holds a placeholder for every entity about to be created;
// a create that fails keeps it, so whatever it may have made is owned,
// and the next apply converges without blocking it.
func TestWriteAheadOwnsFailedCreates(t *testing.T) {
	for _, forward := range []bool{false, true} {
		name := "nothing made"
		if forward {
			name = "made, answer lost"
		}
		t.Run(name, func(t *testing.T) {
			emu, url := emulator(t, kongemu.Options{})
			d := example(t)
			store := state.NewMemory()
			rt := &failOnce{base: http.DefaultTransport, forward: forward}
			tg, err := New(gateway, config.Gateway{AdminURL: url}, store, newSink(), WithTransport(rt))
			if err != nil {
				t.Fatal(err)
			}
			results, err := tg.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
			var ae *plan.ApplyError
			if !errors.As(err, &ae) {
				t.Fatalf("apply: %v, want an ApplyError", err)
			}
			var failed *plan.Result
			for i, r := range results {
				if r.Kind == KindService && r.Action == plan.Create && r.Err != nil && !errors.Is(r.Err, ErrNotAttempted) {
					failed = &results[i]
				}
			}
			if failed == nil {
				t.Fatalf("no service create failed: %v", err)
			}
			entry, err := store.Load(t.Context(), failed.Tenant, tg.stateID)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(entry.Resources[entityID(KindService, failed.Name)]); got != "{}" {
				t.Fatalf("record of %s after its create failed: %q, want the placeholder {}", failed.Key, got)
			}
			code, _ := admin(t, http.MethodGet, url+"/services/"+failed.Name, nil)
			if forward != (code == http.StatusOK) {
				t.Fatalf("GET %s: %d", failed.Name, code)
			}

			changes := mustPlan(t, tg, d.Request())
			for _, c := range changes {
				if c.Action == plan.Blocked {
					t.Errorf("%s blocked after the failed create:\n%s", c.Key, planText(t, changes))
				}
				if c.Key == failed.Key && (c.Drift || forward) {
					// The placeholder is no proof of an earlier apply,
					// and a service made is the tenant's, matching Git.
					t.Errorf("%s planned as %s, drift %v", c.Key, c.Action, c.Drift)
				}
			}
			mustApply(t, tg, d.Request())
			if again := mustPlan(t, tg, d.Request()); len(again) != 0 {
				t.Fatalf("plan after the second apply:\n%s", planText(t, again))
			}
			if emu.Count("services") != 3 {
				t.Errorf("%d services, want 3", emu.Count("services"))
			}
			entry, err = store.Load(t.Context(), failed.Tenant, tg.stateID)
			if err != nil {
				t.Fatal(err)
			}
			for id, raw := range entry.Resources {
				if isPlaceholder(raw) {
					t.Errorf("%s: placeholder left after a successful apply", id)
				}
			}
		})
	}
}

// TestApplyWhatWasChecked: an apply with a Checked plan leaves a tenant
// whose fresh plan differs alone (no write, no state saved, every change
// failing with plan.ErrStale); with the fresh plan checked it converges.
func TestApplyWhatWasChecked(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	store := state.NewMemory()
	tg := newTarget(t, url, store, newSink())
	mustApply(t, tg, d.Request())

	// A change in Git, planned and checked.
	for i, r := range d.kong(t, "payments").Routes {
		if r.Name == "payments-public" {
			d.kong(t, "payments").Routes[i].Paths = []string{"/payments", "/pay"}
		}
	}
	checked := &plan.Plan{Changes: mustPlan(t, tg, d.Request())}
	if len(checked.Changes) != 1 {
		t.Fatalf("checked plan:\n%s", planText(t, checked.Changes))
	}
	// Then live state moves: a route of payments deleted out of band.
	mustAdmin(t, http.MethodDelete, url+"/routes/payments-webhooks", nil, http.StatusNoContent)

	req := d.Request()
	req.Checked = checked
	emu.ResetStats()
	saves := store.Saves()
	results, err := tg.Apply(t.Context(), req, plan.ApplyOptions{})
	if !errors.Is(err, plan.ErrStale) {
		t.Fatalf("apply: %v, want ErrStale", err)
	}
	if len(results) == 0 {
		t.Fatal("no results")
	}
	for _, r := range results {
		if r.Tenant != "payments" || !errors.Is(r.Err, plan.ErrStale) {
			t.Errorf("%s: %v, want ErrStale", r.Key, r.Err)
		}
	}
	if emu.Writes() != 0 || store.Saves() != saves {
		t.Fatalf("stale apply: %d writes (%v), %d saves, want none", emu.Writes(), emu.Stats(), store.Saves()-saves)
	}
	if code, out := admin(t, http.MethodGet, url+"/routes/payments-public", nil); code != http.StatusOK || len(out["paths"].([]any)) != 1 {
		t.Fatalf("route payments-public changed by a stale apply: %d %v", code, out)
	}

	// The fresh plan, checked, is applied.
	req.Checked = &plan.Plan{Changes: mustPlan(t, tg, d.Request())}
	if len(req.Checked.Changes) != 3 { // the update, the route and its plugin
		t.Fatalf("fresh plan:\n%s", planText(t, req.Checked.Changes))
	}
	results = mustApply(t, tg, req)
	if len(results) != 3 {
		t.Fatalf("apply of the fresh plan: %d results", len(results))
	}
	if again := mustPlan(t, tg, d.Request()); len(again) != 0 {
		t.Fatalf("plan after apply:\n%s", planText(t, again))
	}
}

// TestKeyChangedIsDrift: a key-auth key changed outside k3sync is drift:
// the plan says so without showing either key, and the apply replaces the
// credential by one with a new key, delivered to the sink.
func TestKeyChangedIsDrift(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	sink := newSink()
	store := state.NewMemory()
	tg := newTarget(t, url, store, sink)
	mustApply(t, tg, d.Request())
	const consumer = "payments-mobile"
	orig := sink.key("payments/" + consumer)

	// The record holds the key's digest, never the key.
	entry, err := store.Load(t.Context(), "payments", tg.stateID)
	if err != nil {
		t.Fatal(err)
	}
	rec := entry.Resources[entityID(KindCredential, consumer+"/key-auth")]
	var doc map[string]any
	if err := json.Unmarshal(rec, &doc); err != nil || doc[keySumField] != keySum(orig) || strings.Contains(string(rec), orig) {
		t.Fatalf("credential record %s", rec)
	}

	// Planned once: the memo remembers payments as settled, and must see
	// the key change all the same.
	if changes := mustPlan(t, tg, d.Request()); len(changes) != 0 {
		t.Fatalf("plan after apply:\n%s", planText(t, changes))
	}
	handSet := newKey()
	id := credentialID(t, url, orig)
	mustAdmin(t, http.MethodPatch, url+"/consumers/"+consumer+"/key-auth/"+id, map[string]any{"key": handSet}, http.StatusOK)
	assertKey(t, url, handSet, http.StatusOK)

	changes := mustPlan(t, tg, d.Request())
	want := []plan.Change{{
		Key: key("payments", KindCredential, consumer+"/key-auth"), Action: plan.Update, Drift: true, Level: levels[KindCredential],
		Fields: []plan.FieldChange{{Path: "key", Before: "changed", After: "generated", Sensitive: true, Drift: true}},
		Notes:  []string{keyChangedNote},
	}}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	var text, js strings.Builder
	p := plan.Plan{Changes: changes}
	if err := p.WriteText(&text, plan.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	results, err := tg.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	rj, _ := json.Marshal(results)
	for _, out := range []string{text.String(), js.String(), string(rj)} {
		for _, k := range []string{orig, handSet, keySum(orig), keySum(handSet)} {
			if strings.Contains(out, k) {
				t.Fatalf("a key or its digest appears in rendered output:\n%s", strings.ReplaceAll(out, k, "<KEY>"))
			}
		}
	}
	if len(results) != 1 || results[0].Err != nil || results[0].Action != plan.Update {
		t.Fatalf("results: %+v", results)
	}
	fresh := sink.key("payments/" + consumer)
	if fresh == orig || fresh == handSet || len(fresh) < 32 {
		t.Fatal("no new key delivered")
	}
	assertKey(t, url, fresh, http.StatusOK)
	assertKey(t, url, handSet, http.StatusNotFound)
	assertKey(t, url, orig, http.StatusNotFound)
	if n := emu.Count("key-auths"); n != 2 {
		t.Errorf("%d key-auth credentials, want 2", n)
	}
	if again := mustPlan(t, tg, d.Request()); len(again) != 0 {
		t.Fatalf("plan after apply:\n%s", planText(t, again))
	}

	// A second key added with the tenant's tags next to k3sync's: deleted
	// as drift, k3sync's key stays.
	extra := newKey()
	mustAdmin(t, http.MethodPost, url+"/consumers/"+consumer+"/key-auth", map[string]any{"key": extra, "tags": render.Tags("payments")}, http.StatusCreated)
	changes = mustPlan(t, tg, d.Request())
	if len(changes) != 1 || changes[0].Action != plan.Delete || !changes[0].Drift || strings.Contains(planText(t, changes), extra) {
		t.Fatalf("plan with an extra key:\n%s", planText(t, changes))
	}
	mustApply(t, tg, d.Request())
	assertKey(t, url, extra, http.StatusNotFound)
	assertKey(t, url, fresh, http.StatusOK)
	if again := mustPlan(t, tg, d.Request()); len(again) != 0 {
		t.Fatalf("plan after apply:\n%s", planText(t, again))
	}
}

// failingStore fails every Save of one tenant's entry.
type failingStore struct {
	*state.Memory
	tenant string
}

func (s *failingStore) Save(ctx context.Context, e state.Entry) error {
	if e.Tenant == s.tenant {
		return errors.New("state store down")
	}
	return s.Memory.Save(ctx, e) //nolint:wrapcheck // test store
}

// TestSaveFailureIsTheTenants: a tenant whose inventory cannot be saved
// is a *plan.PartialError of its own, so only it is marked failed; since
// nothing can be written ahead, nothing of it is created either (k3sync
// never creates what it could not record as its own). The other tenants
// are applied.
func TestSaveFailureIsTheTenants(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	tg := newTarget(t, url, &failingStore{Memory: state.NewMemory(), tenant: "search"}, newSink())
	results, err := tg.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
	var pe *plan.PartialError
	if !errors.As(err, &pe) || len(pe.Tenants) != 1 || pe.Tenants[0].Tenant != "search" || pe.Target != "kong gateway "+gateway {
		t.Fatalf("apply: %v, want a PartialError for search only", err)
	}
	var ae *plan.ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("apply: %v, want search's changes failed too", err)
	}
	for _, r := range results {
		if (r.Tenant == "search") != (r.Err != nil) {
			t.Errorf("%s: %v", r.Key, r.Err)
		}
	}
	if code, _ := admin(t, http.MethodGet, url+"/services/search-api", nil); code != http.StatusNotFound {
		t.Errorf("search-api created without its inventory written ahead: GET %d", code)
	}
	if emu.Count("services") != 2 {
		t.Errorf("%d services, want the other tenants' 2", emu.Count("services"))
	}
}
