package dashboard_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/view"
)

// TestRemovedTenant: a tenant removed from Git whose deletes are pending
// is listed with its state and what is left; its page says so and offers
// no sync or suspend, which only apply to tenants in Git.
func TestRemovedTenant(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(operatorToken)
	gone := view.TenantSummary{Name: "legacy", Owners: []string{}, State: view.Removed, Note: "removed from Git: 12 to delete, 2 orphaned",
		Systems: []view.SystemState{{System: plan.Kubernetes, Target: "eu-west", State: view.Removed, Changes: 14}}}
	e.fb.update(func(f *fakeBackend) {
		f.overview.Tenants = append(f.overview.Tenants, gone)
		f.overview.Counts[view.Removed] = 1
		f.tenants["legacy"] = view.Tenant{TenantSummary: gone, Plan: &plan.Plan{}}
	})
	for path, want := range map[string][]string{
		"/": {`<tr data-tenant="legacy" data-state="removed">`, `removed from Git: 12 to delete, 2 orphaned`,
			`data-system="kubernetes" data-target="eu-west" data-state="removed"`, `<span class="label">removed</span>`},
		"/?state=removed": {`<tr data-tenant="legacy" data-state="removed">`},
		"/tenants/legacy": {`<h1 data-tenant="legacy" data-state="removed">`, `removed from Git: 12 to delete, 2 orphaned`},
	} {
		rec := e.do(req{path: path, cookie: c})
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, rec.Code, rec.Body)
		}
		for _, w := range want {
			if !strings.Contains(rec.Body.String(), w) {
				t.Errorf("%s does not contain %s", path, w)
			}
		}
		if path == "/?state=removed" && strings.Contains(rec.Body.String(), `<tr data-tenant="checkout"`) {
			t.Errorf("the removed filter lists checkout")
		}
		if path == "/tenants/legacy" && (strings.Contains(rec.Body.String(), `id="sync-now"`) || strings.Contains(rec.Body.String(), `id="suspend"`)) {
			t.Errorf("a removed tenant's page offers sync or suspend")
		}
	}
}
