package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/view"
)

// planServerBackend is a daemon as the API shows it: the sync fake, with
// each tenant's latest plan.
type planServerBackend struct {
	*syncBackend
	order []string
	plans map[string]*plan.Plan
}

func (b *planServerBackend) Overview(context.Context) (view.Overview, error) {
	o := view.Overview{Revision: view.Commit{Hash: "abc123def4567890"}}
	for _, name := range b.order {
		o.Tenants = append(o.Tenants, view.TenantSummary{Name: name})
	}
	return o, nil
}

func (b *planServerBackend) Tenant(_ context.Context, name string) (view.Tenant, error) {
	p, ok := b.plans[name]
	if !ok {
		return view.Tenant{}, fmt.Errorf("tenant %q: %w", name, server.ErrNotFound)
	}
	return view.Tenant{TenantSummary: view.TenantSummary{Name: name}, Plan: p}, nil
}

func (b *planServerBackend) Plans(context.Context) (map[string]*plan.Plan, error) {
	return b.plans, nil
}

// evilTenant is a tenant name (and route name) carrying a terminal escape
// and a newline: data, in every output.
const evilTenant = "evil\x1b]0;pwned\a"

// daemonPlans: payments has changes (one sensitive), search none, and the
// evil tenant a delete.
func daemonPlans() *planServerBackend {
	const rev = "abc123def4567890"
	return &planServerBackend{
		syncBackend: &syncBackend{},
		order:       []string{evilTenant, "payments", "search"},
		plans: map[string]*plan.Plan{
			"payments": {Revision: rev, Changes: []plan.Change{
				{Key: plan.Key{Tenant: "payments", System: plan.Kubernetes, Target: "eu-west", Kind: "ResourceQuota", Namespace: "payments", Name: "tenant-quota"},
					Action: plan.Update, Drift: true, Fields: []plan.FieldChange{{Path: "spec.hard.requests.cpu", Before: "1", After: "4", Drift: true, Manager: "kubectl-patch"}}},
				{Key: plan.Key{Tenant: "payments", System: plan.Kafka, Target: "main", Kind: "Topic", Name: "payments.orders"},
					Action: plan.Update, Fields: []plan.FieldChange{{Path: "configs.retention.ms", Before: int64(86400000), After: int64(604800000)}}},
				{Key: plan.Key{Tenant: "payments", System: plan.Kong, Target: "edge", Kind: "KeyAuth", Name: "mobile"},
					Action: plan.Update, Fields: []plan.FieldChange{{Path: "key", Before: "old-s3cret", After: "s3cret", Sensitive: true}}},
			}},
			"search": {Revision: rev},
			evilTenant: {Revision: rev, Changes: []plan.Change{
				{Key: plan.Key{Tenant: evilTenant, System: plan.Kong, Target: "edge", Kind: "Route", Name: "r\nTenant forged"}, Action: plan.Delete},
			}},
		},
	}
}

// wantPlan is what the local plan of tenants would hold: the same changes,
// rendered by the same functions.
func (b *planServerBackend) wantPlan(tenants ...string) *plan.Plan {
	if len(tenants) == 0 {
		tenants = b.order
	}
	p := &plan.Plan{Revision: "abc123def4567890"}
	for _, name := range tenants {
		p.Changes = append(p.Changes, b.plans[name].Changes...)
	}
	plan.Sort(p.Changes)
	return p
}

const viewerSecret = "viewer-secret-token"

// planServer serves b's API with a viewer and an operator token and
// returns its URL and the viewer's token file.
func planServer(t *testing.T, b server.Backend) (url, viewerFile string) {
	t.Helper()
	dir := t.TempDir()
	var cfg config.Server
	for role, tok := range map[string]string{"operator": syncToken, "viewer": viewerSecret} {
		p := filepath.Join(dir, role)
		if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Tokens = append(cfg.Tokens, config.Token{Name: "ci-" + role, Role: role, Secret: config.Secret{TokenFile: p}})
	}
	s, err := server.New(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts.URL, filepath.Join(dir, "viewer")
}

// clearPlanEnv unsets the K3SYNC_* variables plan reads.
func clearPlanEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{"SERVER", "TOKEN", "TOKEN_FILE", "CONFIG", "REPO", "TENANT", "OUTPUT", "REVISION", "ALLOW_MASS_DELETION"} {
		t.Setenv(EnvPrefix+name, "")
		if err := os.Unsetenv(EnvPrefix + name); err != nil {
			t.Fatal(err)
		}
	}
}

func renderPlan(t *testing.T, p *plan.Plan, format string) string {
	t.Helper()
	var b bytes.Buffer
	if err := writePlan(&b, p, format); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPlanServerText(t *testing.T) {
	clearPlanEnv(t)
	b := daemonPlans()
	url, viewer := planServer(t, b)
	const header = "Planned by the daemon at revision abc123def456.\n\n"

	stdout, stderr, code := run(t, "plan", "--server", url, "--token-file", viewer)
	if code != ExitChanges {
		t.Fatalf("exit %d, want 2\n%s%s", code, stdout, stderr)
	}
	if diff := cmp.Diff(header+renderPlan(t, b.wantPlan(), "text"), stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		"Tenant payments\n  kubernetes/eu-west\n    ~ update ResourceQuota payments/tenant-quota (drift)\n" +
			"        spec.hard.requests.cpu: \"1\" → \"4\"  [drift, changed by kubectl-patch]\n",
		"configs.retention.ms: 86400000 → 604800000",
		"key: (sensitive) → (sensitive)",
		"Plan: 0 to create, 3 to update, 1 to delete",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.ContainsAny(stdout, "\x1b\a") || strings.Contains(stdout, "\nTenant forged") || strings.Contains(stdout, "s3cret") {
		t.Errorf("a tenant string or a secret reached the output raw:\n%q", stdout)
	}

	// A tenant without changes: exit 0; the token from the environment.
	t.Setenv(TokenEnv, viewerSecret)
	stdout, stderr, code = run(t, "plan", "--server", url, "--tenant", "search")
	if code != ExitOK || stdout != header+"No changes: live state matches Git.\n" {
		t.Errorf("--tenant search: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, code = run(t, "plan", "--server", url, "--tenant", "search,payments", "--output", "markdown")
	if code != ExitChanges {
		t.Errorf("markdown: exit %d", code)
	}
	if diff := cmp.Diff(renderPlan(t, b.wantPlan("payments", "search"), "markdown"), stdout); diff != "" {
		t.Errorf("markdown (-want +got):\n%s", diff)
	}
}

func TestPlanServerJSON(t *testing.T) {
	clearPlanEnv(t)
	b := daemonPlans()
	url, viewer := planServer(t, b)
	// K3SYNC_SERVER alone chooses the daemon's plan.
	t.Setenv(EnvPrefix+"SERVER", url)
	stdout, stderr, code := run(t, "plan", "--token-file", viewer, "--output", "json", "--tenant", "payments")
	if code != ExitChanges {
		t.Fatalf("exit %d, want 2\n%s%s", code, stdout, stderr)
	}
	if diff := cmp.Diff(renderPlan(t, b.wantPlan("payments"), "json"), stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	var p struct {
		Revision string
		Summary  plan.Summary
		Changes  []struct{ Tenant, Action string }
	}
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatal(err)
	}
	if p.Revision != "abc123def4567890" || p.Summary.Update != 3 || len(p.Changes) != 3 {
		t.Errorf("plan %+v", p)
	}
	stdout, _, code = run(t, "plan", "--token-file", viewer, "--output", "json", "--tenant", "search")
	if code != ExitOK {
		t.Errorf("--tenant search: exit %d", code)
	}
	if diff := cmp.Diff(renderPlan(t, b.wantPlan("search"), "json"), stdout); diff != "" {
		t.Errorf("--tenant search (-want +got):\n%s", diff)
	}
	stdout, _, code = run(t, "plan", "--token-file", viewer, "--output", "json")
	if code != ExitChanges || !strings.Contains(stdout, `"tenant": "evil\u001b]0;pwned\u0007"`) {
		t.Errorf("every tenant: exit %d\n%s", code, stdout)
	}
}

func TestPlanServerErrors(t *testing.T) {
	clearPlanEnv(t)
	url, viewer := planServer(t, daemonPlans())
	notReady := &planServerBackend{syncBackend: &syncBackend{}}
	notReadyURL, _ := planServer(t, notReadyBackend{notReady})
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"wrong token", nil, []string{"--server", url, "--token-file", wrong},
			"k3sync: plan: 401 Unauthorized: invalid token (check the token in --token-file or K3SYNC_TOKEN)\n"},
		{"no token", nil, []string{"--server", url},
			"k3sync: no API token: pass --token-file FILE or set K3SYNC_TOKEN (tokens are not accepted as a flag value)\n"},
		{"unknown tenant", nil, []string{"--server", url, "--token-file", viewer, "--tenant", "nobody"},
			"k3sync: plan: 404 Not Found: tenant \"nobody\": not found\n"},
		{"not ready", nil, []string{"--server", notReadyURL, "--token-file", viewer},
			"k3sync: plan: 503 Service Unavailable: no current plan: first sync not done\n"},
		{"bad server", nil, []string{"--server", "k3sync.example.com", "--token-file", viewer},
			"k3sync: --server \"k3sync.example.com\": want an http or https URL\n"},
		{"server and config", nil, []string{"--server", url, "--config", "k3sync.yaml"},
			"k3sync: --server and --config exclude each other: --server shows the daemon's plan, made with its own config, repo and state; " +
				"--config and --repo plan here (and cannot while a daemon holds the state)\n"},
		{"server and repo", nil, []string{"--server", url, "--repo", "."},
			"k3sync: --server and --repo exclude each other: --server shows the daemon's plan, made with its own config, repo and state; " +
				"--config and --repo plan here (and cannot while a daemon holds the state)\n"},
		{"server and mass deletion", nil, []string{"--server", url, "--allow-mass-deletion"},
			"k3sync: --server and --allow-mass-deletion exclude each other: --server shows the daemon's plan, made with its own config, repo and state; " +
				"--config and --repo plan here (and cannot while a daemon holds the state)\n"},
		{"token file without server", nil, []string{"--config", "k3sync.yaml", "--token-file", viewer},
			"k3sync: --token-file goes with --server URL (the daemon's plan)\n"},
		{"both in the environment", map[string]string{"SERVER": url, "CONFIG": "k3sync.yaml"}, []string{"--token-file", viewer},
			"k3sync: K3SYNC_SERVER and K3SYNC_CONFIG are both set: pass --server URL to show the daemon's plan, or --config and --repo to plan here\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(EnvPrefix+k, v)
			}
			stdout, stderr, code := run(t, append([]string{"plan"}, tt.args...)...)
			if code != ExitError {
				t.Errorf("exit %d, want 1\n%s", code, stdout)
			}
			if diff := cmp.Diff(tt.want, stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}

	// The command line wins over the environment: --config here, with
	// K3SYNC_SERVER set, is a local plan.
	t.Setenv(EnvPrefix+"SERVER", url)
	_, stderr, code := run(t, "plan", "--config", filepath.Join(t.TempDir(), "missing.yaml"), "--repo", exampleRepo)
	if code != ExitError || strings.Contains(stderr, "--server") || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("local plan with K3SYNC_SERVER set: exit %d: %s", code, stderr)
	}
	// --output json errors are a JSON document, as for the local plan.
	stdout, _, code := run(t, "plan", "--server", url, "--token-file", wrong, "--output", "json")
	if code != ExitError || !strings.Contains(stdout, `"message": "plan: 401 Unauthorized: invalid token`) {
		t.Errorf("json error: exit %d\n%s", code, stdout)
	}
}

// notReadyBackend is a daemon before its first sync.
type notReadyBackend struct{ *planServerBackend }

func (notReadyBackend) Ready() error { return fmt.Errorf("first sync not done") }
