package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// liveConfig starts the example's two clusters and writes a config file.
func liveConfig(t *testing.T) string {
	t.Helper()
	cps := kube.StartT(t, 2)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`clusters:
  eu-west: {kubeconfig: %q, qps: 100, burst: 200}
  us-east: {kubeconfig: %q, qps: 100, burst: 200}
state: {path: %q}
`, cps[0].KubeconfigPath(), cps[1].KubeconfigPath(), filepath.Join(dir, "state.db"))
	path := filepath.Join(dir, "k3sync.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlanApplyPlanOnRealClusters(t *testing.T) {
	cfg := liveConfig(t)
	out, errOut, code := run(t, "plan", "--config", cfg, "--repo", exampleRepo, "--output", "json")
	if code != ExitChanges {
		t.Fatalf("first plan: exit %d, want 2\n%s%s", code, out, errOut)
	}
	var p struct {
		Changes []struct {
			Tenant, System, Target, Kind, Namespace, Name, Action string
		} `json:"changes"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, out)
	}
	if p.Summary["create"] != len(p.Changes) || len(p.Changes) < 40 {
		t.Fatalf("first plan: summary %v for %d changes", p.Summary, len(p.Changes))
	}
	first := p.Changes[0]
	if first.Tenant != "analytics" || first.System != "kubernetes" || first.Kind != "Namespace" || first.Action != "create" {
		t.Errorf("first change: %+v (want namespaces first, tenants in order)", first)
	}

	out, errOut, code = run(t, "apply", "--config", cfg, "--repo", exampleRepo)
	if code != ExitOK {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, fmt.Sprintf("Applied: %d changes made, 0 failed.", len(p.Changes))) {
		t.Errorf("apply output: %s", out)
	}

	out, _, code = run(t, "plan", "--config", cfg, "--repo", exampleRepo)
	if code != ExitOK || out != "No changes: live state matches Git.\n" {
		t.Errorf("plan after apply: exit %d, %q", code, out)
	}
	out, _, code = run(t, "plan", "--config", cfg, "--repo", exampleRepo, "--tenant", "search", "--output", "markdown")
	if code != ExitOK || !strings.Contains(out, "No changes") {
		t.Errorf("narrowed markdown plan: exit %d, %q", code, out)
	}
}

func TestPlanReportsUnconfiguredCluster(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "k3sync.yaml")
	cps := kube.StartT(t, 1)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("clusters:\n  eu-west: {kubeconfig: %q}\nstate: {path: %q}\n", cps[0].KubeconfigPath(), filepath.Join(dir, "s.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code := run(t, "plan", "--config", cfg, "--repo", exampleRepo)
	if code != ExitError || !strings.Contains(out, "error: kubernetes/us-east: cluster us-east is used by tenants but not in the config file") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.db")); err == nil {
		t.Error("plan created the state file")
	}
}
