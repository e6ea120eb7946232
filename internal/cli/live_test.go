package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// liveConfig starts the example's two clusters, its Kafka cluster (kfake,
// three brokers) and its gateway (the Kong emulator) and writes a config
// file for them.
func liveConfig(t *testing.T) (string, []*kube.ControlPlane) {
	t.Helper()
	cps := kube.StartT(t, 2)
	kc, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	kongURL, err := kongemu.New(kongemu.Options{}).Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	brokers, _ := json.Marshal(kc.ListenAddrs())
	cfg := fmt.Sprintf(`clusters:
  eu-west: {kubeconfig: %q, qps: 100, burst: 200}
  us-east: {kubeconfig: %q, qps: 100, burst: 200}
kafka:
  main: {brokers: %s}
gateways:
  edge: {adminURL: %q}
state: {path: %q}
`, cps[0].KubeconfigPath(), cps[1].KubeconfigPath(), brokers, kongURL, filepath.Join(dir, "state.db"))
	path := filepath.Join(dir, "k3sync.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, cps
}

func TestPlanApplyPlanOnRealClusters(t *testing.T) {
	cfg, cps := liveConfig(t)
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
	systems := map[string]int{}
	for _, c := range p.Changes {
		systems[c.System]++
	}
	if systems["kubernetes"] == 0 || systems["kafka"] == 0 || systems["kong"] == 0 {
		t.Errorf("changes per system: %v", systems)
	}

	out, errOut, code = run(t, "apply", "--config", cfg, "--repo", exampleRepo)
	applyOut := out
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
	// Generated credentials reached the tenants' namespaces; the apply
	// output never showed them.
	cs, err := kubernetes.NewForConfig(cps[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	sec, err := cs.CoreV1().Secrets("payments").Get(t.Context(), "kafka-user-payments.api", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("SCRAM password not delivered: %v", err)
	}
	if pw := string(sec.Data["password"]); len(pw) < 32 || strings.Contains(applyOut, pw) {
		t.Errorf("password of %d characters, in the apply output: %v", len(pw), strings.Contains(applyOut, pw))
	}
	if _, err := cs.CoreV1().Secrets("payments").Get(t.Context(), "kong-consumer-payments-mobile", metav1.GetOptions{}); err != nil {
		t.Errorf("key-auth key not delivered: %v", err)
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
