package kong

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// forget empties the target's plan memo.
func (t *Target) forget() {
	t.memo.mu.Lock()
	defer t.memo.mu.Unlock()
	t.memo.reset()
}

// memoTenants are the tenants the memo remembers, sorted.
func (t *Target) memoTenants() []string {
	t.memo.mu.Lock()
	defer t.memo.mu.Unlock()
	var out []string
	for tn, e := range t.memo.tenants {
		if e.pending == nil {
			out = append(out, tn)
		}
	}
	slices.Sort(out)
	return out
}

// planCounting plans req and returns the changes and the number of
// tenants go-database-reconciler diffed.
func planCounting(t *testing.T, tg *Target, req plan.Request) ([]plan.Change, int) {
	t.Helper()
	before := tg.diffs.Load()
	changes := mustPlan(t, tg, req)
	return changes, int(tg.diffs.Load() - before)
}

// applyCounting applies req and returns the results and the number of
// go-database-reconciler runs (diffs and syncs).
func applyCounting(t *testing.T, tg *Target, req plan.Request) ([]plan.Result, int) {
	t.Helper()
	before := tg.diffs.Load()
	res := mustApply(t, tg, req)
	return res, int(tg.diffs.Load() - before)
}

// exampleKongTenants are the example repo's tenants with Kong resources on
// the gateway.
func exampleKongTenants(t *testing.T, d *desired) []string {
	t.Helper()
	var out []string
	for _, tn := range d.Tenants {
		if tn.Kong != nil && tn.Kong.Gateway == gateway {
			out = append(out, tn.Name)
		}
	}
	slices.Sort(out)
	if len(out) < 2 {
		t.Fatalf("example repo: %d tenants on %s, want several", len(out), gateway)
	}
	return out
}

// memoized applies the example repo and plans it once: every tenant is
// then remembered as having nothing to do.
func memoized(t *testing.T, opts ...func(*config.Gateway)) (*kongemu.Server, string, *desired, *Target, *state.Memory) {
	t.Helper()
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	store := state.NewMemory()
	tg := newTarget(t, url, store, newSink(), opts...)
	mustApply(t, tg, d.Request())
	tenants := exampleKongTenants(t, d)
	changes, diffs := planCounting(t, tg, d.Request())
	if len(changes) != 0 || diffs != len(tenants) {
		t.Fatalf("first plan after apply: %d changes, %d diffs, want 0 and %d", len(changes), diffs, len(tenants))
	}
	if got := tg.memoTenants(); !slices.Equal(got, tenants) {
		t.Fatalf("memo holds %v, want %v", got, tenants)
	}
	return emu, url, d, tg, store
}

// TestMemoSkipsNoopDiffs: a second no-op plan diffs no tenant, still
// finds nothing to do, and sends the same requests as the first.
func TestMemoSkipsNoopDiffs(t *testing.T) {
	emu, _, d, tg, _ := memoized(t)
	tg.forget()
	emu.ResetStats()
	if changes, diffs := planCounting(t, tg, d.Request()); len(changes) != 0 || diffs == 0 {
		t.Fatalf("plan with an empty memo: %d changes, %d diffs", len(changes), diffs)
	}
	first := emu.Stats()
	emu.ResetStats()
	for range 2 {
		changes, diffs := planCounting(t, tg, d.Request())
		if len(changes) != 0 || diffs != 0 {
			t.Fatalf("memoized plan: %d changes, %d diffs, want none:\n%s", len(changes), diffs, planText(t, changes))
		}
	}
	// The schemas the diffs read are read again, once per plan, to check
	// them: a memoized plan sends what a diffing one does.
	second := emu.Stats()
	for k := range second {
		second[k] /= 2
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("requests of a memoized plan (-diffing +memoized):\n%s", diff)
	}
}

// TestMemoSeesChanges: whatever changes after a memoized plan, in Git, on
// the gateway or in the state store, the next plan diffs the tenant
// concerned, and only that tenant, and reports what a plan without memo
// does.
func TestMemoSeesChanges(t *testing.T) {
	tests := []struct {
		name string
		// edit changes Git, the gateway or the state store.
		edit func(t *testing.T, url string, d *desired, store *state.Memory)
		// tenant is the one whose diff must run again.
		tenant string
		want   []plan.Change
	}{
		{
			name:   "route patched out of band",
			tenant: "payments",
			edit: func(t *testing.T, url string, _ *desired, _ *state.Memory) {
				mustAdmin(t, http.MethodPatch, url+"/routes/payments-public", map[string]any{"paths": []string{"/pay"}}, http.StatusOK)
			},
			want: []plan.Change{{
				Key: key("payments", KindRoute, "payments-public"), Action: plan.Update, Drift: true, Level: levels[KindRoute],
				Fields: []plan.FieldChange{{Path: "paths", Before: []any{"/pay"}, After: []any{"/payments"}, Drift: true}},
			}},
		},
		{
			name:   "plugin config patched out of band",
			tenant: "search",
			edit: func(t *testing.T, url string, _ *desired, _ *state.Memory) {
				id := pluginID(t, url, "search-api", "rate-limiting")
				mustAdmin(t, http.MethodPatch, url+"/plugins/"+id, map[string]any{"config": map[string]any{"minute": 6000}}, http.StatusOK)
			},
			want: []plan.Change{{
				Key: key("search", KindPlugin, "service/search-api/rate-limiting"), Action: plan.Update, Drift: true, Level: levels[KindPlugin],
				Fields: []plan.FieldChange{{Path: "config.minute", Before: 6000.0, After: nil, Drift: true}},
			}},
		},
		{
			name:   "route changed in Git",
			tenant: "payments",
			edit: func(t *testing.T, _ string, d *desired, _ *state.Memory) {
				k := d.kong(t, "payments")
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
			name:   "route deleted out of band",
			tenant: "payments",
			edit: func(t *testing.T, url string, _ *desired, _ *state.Memory) {
				mustAdmin(t, http.MethodDelete, url+"/routes/payments-public", nil, http.StatusNoContent)
			},
			want: []plan.Change{{
				Key: key("payments", KindRoute, "payments-public"), Action: plan.Create, Drift: true, Level: levels[KindRoute],
				Notes: []string{"deleted out of band: k3sync applied it before"},
			}},
		},
		{
			name:   "key-auth credential deleted out of band",
			tenant: "payments",
			edit: func(t *testing.T, url string, _ *desired, _ *state.Memory) {
				creds := url + "/consumers/payments-partner-acme/key-auths"
				code, out := admin(t, http.MethodGet, creds, nil)
				data, _ := out["data"].([]any)
				if code != http.StatusOK || len(data) != 1 {
					t.Fatalf("list key-auths: %d %v", code, out)
				}
				mustAdmin(t, http.MethodDelete, creds+"/"+data[0].(map[string]any)["id"].(string), nil, http.StatusNoContent)
			},
			want: []plan.Change{{
				Key: key("payments", KindCredential, "payments-partner-acme/key-auth"), Action: plan.Create, Drift: true, Level: levels[KindCredential],
				Fields: []plan.FieldChange{{Path: "key", After: "generated", Sensitive: true}},
				Notes: []string{
					"k3sync generates the key and delivers it to the tenant's credential sink",
					"deleted out of band: k3sync created it before",
				},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url, d, tg, store := memoized(t)
			tt.edit(t, url, d, store)
			got, diffs := planCounting(t, tg, d.Request())
			if diffs != 1 {
				t.Errorf("plan diffed %d tenants, want only %s", diffs, tt.tenant)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			// The memo answers what a plan without it does.
			tg.forget()
			if diff := cmp.Diff(got, mustPlan(t, tg, d.Request())); diff != "" {
				t.Errorf("plan without memo (-memoized +without):\n%s", diff)
			}
			// A tenant with changes is not remembered as settled: it
			// stays planned, and plans again the same without a diff.
			if again, diffs := planCounting(t, tg, d.Request()); !cmp.Equal(got, again) || diffs != 0 {
				t.Errorf("plan again, %d diffs:\n%s", diffs, planText(t, again))
			}
			if slices.Contains(tg.memoTenants(), tt.tenant) {
				t.Errorf("memo remembers %s as settled, which has changes", tt.tenant)
			}
			// The apply makes the planned changes with the syncer run
			// that makes them, without diffing the same inputs again:
			// one run per tenant (the others are diffed once for their
			// records, which no apply has found current yet).
			want := len(exampleKongTenants(t, d))
			if res, diffs := applyCounting(t, tg, d.Request()); diffs != want || len(res) != len(got) {
				t.Errorf("apply after plan: %d diffs, want %d; %d results, want %d", diffs, want, len(res), len(got))
			}
			if again := mustPlan(t, tg, d.Request()); len(again) != 0 {
				t.Errorf("plan after apply:\n%s", planText(t, again))
			}
		})
	}
}

// TestMemoForeignEntities: entities that do not carry both of a tenant's
// tags are never read, and those that carry them but are not in the
// tenant's inventory leave its slice before the fingerprint: adding them
// changes no fingerprint, and neither a plan nor an apply touches them.
func TestMemoForeignEntities(t *testing.T) {
	emu, url, d, tg, _ := memoized(t)
	services := emu.Count("services")
	for _, body := range []map[string]any{
		{"name": "payments-legacy", "host": "legacy.internal"},
		{"name": "payments-api-v0", "host": "v0.internal", "tags": []string{"k3sync-tenant:payments"}},
		{"name": "payments-shared", "host": "shared.internal", "tags": []string{"k3sync"}},
		{"name": "search-shadow", "host": "shadow.internal", "tags": render.Tags("search")},
	} {
		mustAdmin(t, http.MethodPost, url+"/services", body, http.StatusCreated)
	}
	if changes, diffs := planCounting(t, tg, d.Request()); len(changes) != 0 || diffs != 0 {
		t.Fatalf("plan after foreign entities: %d changes, %d diffs, want none:\n%s", len(changes), diffs, planText(t, changes))
	}
	emu.ResetStats()
	if res, _ := applyCounting(t, tg, d.Request()); len(res) != 0 {
		t.Fatalf("apply: %d results, want none", len(res))
	}
	if emu.Writes() != 0 || emu.Count("services") != services+4 {
		t.Fatalf("apply: %d writes, %d services, want none and %d", emu.Writes(), emu.Count("services"), services+4)
	}
	for _, name := range []string{"payments-legacy", "payments-api-v0", "payments-shared", "search-shadow"} {
		mustAdmin(t, http.MethodGet, url+"/services/"+name, nil, http.StatusOK)
	}
}

// TestMemoStateStoreChange: a change only in the state store's record
// makes the tenant diffed again, and an apply then writes the record as
// it would without memo.
func TestMemoStateStoreChange(t *testing.T) {
	_, _, d, tg, store := memoized(t)
	target := string(plan.Kong) + "/" + gateway
	orig, err := store.Load(t.Context(), "payments", target)
	if err != nil {
		t.Fatal(err)
	}
	id := entityID(KindRoute, "payments-public")
	if _, ok := orig.Resources[id]; !ok {
		t.Fatalf("no record of %s: %v", id, orig.Resources)
	}
	tampered := orig.Clone()
	tampered.Resources[id] = json.RawMessage(`{"name":"payments-public","paths":["/old"]}`)
	if err := store.Save(t.Context(), tampered); err != nil {
		t.Fatal(err)
	}
	changes, diffs := planCounting(t, tg, d.Request())
	if len(changes) != 0 || diffs != 1 {
		t.Fatalf("plan after a record changed: %d changes, %d diffs, want 0 and 1 (payments)", len(changes), diffs)
	}

	// An apply does not skip a tenant whose record it has not found up to
	// date: it rewrites the record, as without memo.
	saves := store.Saves()
	if res, _ := applyCounting(t, tg, d.Request()); len(res) != 0 {
		t.Fatalf("apply: %d results", len(res))
	}
	if store.Saves() != saves+1 {
		t.Fatalf("apply saved %d times, want once", store.Saves()-saves)
	}
	restored, err := store.Load(t.Context(), "payments", target)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(orig.Resources, restored.Resources); diff != "" {
		t.Fatalf("record after apply (-before tampering +after):\n%s", diff)
	}

	// Applies settle: the first finds payments' new record up to date,
	// the next diffs nothing. None saves.
	saves = store.Saves()
	if _, diffs := applyCounting(t, tg, d.Request()); diffs != 1 {
		t.Errorf("apply after the record was rewritten: %d diffs, want 1 (payments)", diffs)
	}
	if _, diffs := applyCounting(t, tg, d.Request()); diffs != 0 {
		t.Errorf("settled apply: %d diffs, want none", diffs)
	}
	if store.Saves() != saves {
		t.Errorf("settled applies saved %d times", store.Saves()-saves)
	}
}

// TestMemoApplyFindsRecordsCurrent: a plan's memo is enough for plans; an
// apply skips a tenant only once an apply has found its record up to
// date, and then neither diffs nor saves.
func TestMemoApplyFindsRecordsCurrent(t *testing.T) {
	_, _, d, tg, store := memoized(t)
	tenants := exampleKongTenants(t, d)
	saves := store.Saves()
	if res, diffs := applyCounting(t, tg, d.Request()); len(res) != 0 || diffs != len(tenants) {
		t.Fatalf("first re-apply: %d results, %d diffs, want 0 and %d", len(res), diffs, len(tenants))
	}
	if res, diffs := applyCounting(t, tg, d.Request()); len(res) != 0 || diffs != 0 {
		t.Fatalf("second re-apply: %d results, %d diffs, want none", len(res), diffs)
	}
	if changes, diffs := planCounting(t, tg, d.Request()); len(changes) != 0 || diffs != 0 {
		t.Fatalf("plan: %d changes, %d diffs, want none", len(changes), diffs)
	}
	if store.Saves() != saves {
		t.Errorf("re-applies saved %d times", store.Saves()-saves)
	}
}

// TestMemoSchemaChange: the defaults go-database-reconciler fills come
// from the gateway's schemas. When one answers differently, the memo is
// emptied: every tenant is diffed again and the new default shows as a
// change.
func TestMemoSchemaChange(t *testing.T) {
	_, url := emulator(t, kongemu.Options{})
	d := example(t)
	edit := &schemaEdit{}
	tg, err := New(gateway, config.Gateway{AdminURL: url}, state.NewMemory(), newSink(), WithTransport(edit))
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, tg, d.Request())
	tenants := exampleKongTenants(t, d)
	if changes, diffs := planCounting(t, tg, d.Request()); len(changes) != 0 || diffs != len(tenants) {
		t.Fatalf("first plan: %d changes, %d diffs", len(changes), diffs)
	}
	if changes, diffs := planCounting(t, tg, d.Request()); len(changes) != 0 || diffs != 0 {
		t.Fatalf("memoized plan: %d changes, %d diffs", len(changes), diffs)
	}

	// correlation-id's generator defaults to uuid#counter; checkout's
	// plugin does not set it.
	edit.set("/schemas/plugins/correlation-id", `"default":"uuid#counter"`, `"default":"uuid"`)
	changes, diffs := planCounting(t, tg, d.Request())
	if edit.edits.Load() == 0 {
		t.Fatal("the schema was not read again")
	}
	if diffs != len(tenants) {
		t.Errorf("plan after a schema changed: %d diffs, want every tenant (%d)", diffs, len(tenants))
	}
	want := []plan.Change{{
		Key: key("checkout", KindPlugin, "service/checkout-web/correlation-id"), Action: plan.Update, Level: levels[KindPlugin],
		Fields: []plan.FieldChange{{Path: "config.generator", Before: "uuid#counter", After: "uuid"}},
	}}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("plan after a schema changed (-want +got):\n%s", diff)
	}
}

// schemaEdit is a transport that rewrites the gateway's answers to GET
// path, once set: old becomes new.
type schemaEdit struct {
	mu             sync.Mutex
	path, old, new string
	edits          atomic.Int64
}

func (s *schemaEdit) set(path, old, new string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.path, s.old, s.new = path, old, new
}

func (s *schemaEdit) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	s.mu.Lock()
	path, old, new := s.path, s.old, s.new
	s.mu.Unlock()
	if err != nil || path == "" || r.URL.Path != path {
		return resp, err //nolint:wrapcheck // a transport passes errors through
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err //nolint:wrapcheck // a transport passes errors through
	}
	if !bytes.Contains(body, []byte(old)) {
		return nil, fmt.Errorf("schemaEdit: GET %s has no %s", path, old)
	}
	s.edits.Add(1)
	body = bytes.ReplaceAll(body, []byte(old), []byte(new))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}

// TestMemoConcurrentPlans plans and applies at once under the race
// detector: every plan finds nothing to do.
func TestMemoConcurrentPlans(t *testing.T) {
	_, _, d, tg, _ := memoized(t)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if i%3 == 2 {
				if i == 5 {
					tg.forget()
				}
				res, err := tg.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
				if err != nil || len(res) != 0 {
					t.Errorf("apply: %d results, %v", len(res), err)
				}
				return
			}
			changes, err := tg.Plan(t.Context(), d.Request())
			if err != nil || len(changes) != 0 {
				t.Errorf("plan: %d changes, %v", len(changes), err)
			}
		})
	}
	wg.Wait()
	if changes, diffs := planCounting(t, tg, d.Request()); len(changes) != 0 || diffs != 0 {
		t.Errorf("plan after: %d changes, %d diffs", len(changes), diffs)
	}
}

// TestMemoScope: the memo holds the tenants in scope: a plan of one
// tenant keeps the others, a complete plan forgets the tenants it did not
// plan, and a tenant removed from Git is diffed (its entities go).
func TestMemoScope(t *testing.T) {
	_, _, d, tg, _ := memoized(t)
	tenants := exampleKongTenants(t, d)
	one := d.Request()
	one.Complete = false
	one.Tenants = slices.DeleteFunc(one.Tenants, func(tr plan.TenantRequest) bool { return tr.Desired.Name != "search" })
	if changes, diffs := planCounting(t, tg, one); len(changes) != 0 || diffs != 0 {
		t.Fatalf("plan of search: %d changes, %d diffs", len(changes), diffs)
	}
	if got := tg.memoTenants(); !slices.Equal(got, tenants) {
		t.Fatalf("after a plan of one tenant the memo holds %v, want %v", got, tenants)
	}
	// A tenant nothing is known of any more (not in Git, nothing on the
	// gateway, no record): a plan of one tenant keeps it, a complete plan
	// forgets it.
	tg.memo.mu.Lock()
	tg.memo.tenants["gone"] = memoEntry{}
	tg.memo.mu.Unlock()
	planCounting(t, tg, one)
	if !slices.Contains(tg.memoTenants(), "gone") {
		t.Fatal("a plan of one tenant forgot another")
	}
	planCounting(t, tg, d.Request())
	if got := tg.memoTenants(); !slices.Equal(got, tenants) {
		t.Fatalf("after a complete plan the memo holds %v, want %v", got, tenants)
	}

	d.RemoveTenant("search")
	changes, diffs := planCounting(t, tg, d.Request())
	if diffs != 1 || len(changes) == 0 || slices.ContainsFunc(changes, func(c plan.Change) bool { return c.Tenant != "search" || c.Action != plan.Delete }) {
		t.Fatalf("plan without search: %d diffs, want 1:\n%s", diffs, planText(t, changes))
	}
	want := slices.DeleteFunc(slices.Clone(tenants), func(tn string) bool { return tn == "search" })
	if got := tg.memoTenants(); !slices.Equal(got, want) {
		t.Errorf("memo holds %v, want %v", got, want)
	}
}

// mustAdmin sends an Admin API request and fails unless it answers want.
func mustAdmin(t *testing.T, method, url string, body any, want int) {
	t.Helper()
	if code, out := admin(t, method, url, body); code != want {
		t.Fatalf("%s %s: %d %v, want %d", method, url, code, out, want)
	}
}
