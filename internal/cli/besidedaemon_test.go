package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k3sync/k3sync/internal/leader"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// tinyRepo is a platform repo with one tenant on cluster c1.
func tinyRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"platform.cue": "package k3sync\n\nclusters: c1: {region: \"local\", capacity: {cpu: \"8\", memory: \"16Gi\", pods: 100}}\npolicy: {}\n",
		"tenants/demo/tenant.cue": `package k3sync

owners: ["team-demo@example.com"]
kubernetes: {
	clusters: ["c1"]
	namespaces: demo: quota: {
		requests: {cpu: "1", memory: "1Gi"}
		pods: 10
	}
}
`,
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeConfig(t *testing.T, cfg string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "k3sync.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestApplyRefusesBesideDaemonOnBolt: while a daemon holds the bbolt
// state file, apply and plan fail at once (not after bbolt's lock wait)
// and say why and what to run instead.
func TestApplyRefusesBesideDaemonOnBolt(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "state.db")
	// What `k3sync serve` does with the file: hold it open.
	held, err := state.OpenBolt(dbPath, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg := writeConfig(t, fmt.Sprintf("clusters:\n  c1: {kubeconfig: %q}\nstate: {path: %q}\n",
		filepath.Join(t.TempDir(), "no-kubeconfig"), dbPath))
	repo := tinyRepo(t)
	for _, args := range [][]string{
		{"apply", "--config", cfg, "--repo", repo},
		{"apply", "--dry-run", "--config", cfg, "--repo", repo},
		{"plan", "--config", cfg, "--repo", repo},
	} {
		t.Run(strings.Join(args[:len(args)-4], " "), func(t *testing.T) {
			start := time.Now()
			out, errOut, code := run(t, args...)
			took := time.Since(start)
			if code != ExitError {
				t.Fatalf("exit %d beside a daemon, want %d\n%s%s", code, ExitError, out, errOut)
			}
			wants := []string{"state " + dbPath + ": held by another process", "holds this bbolt state file", "k3sync sync --server URL"}
			if args[0] == "plan" {
				wants = append(wants, "k3sync plan --server URL")
			}
			for _, want := range wants {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr does not say %q:\n%s", want, errOut)
				}
			}
			if took > 3*time.Second {
				t.Errorf("took %s to refuse: it waited for the lock", took)
			}
		})
	}
}

// TestApplyRefusesWhileAnotherReplicaLeads: with leader election
// configured, apply refuses while a daemon holds the Lease, naming it, and
// runs once the daemon has stopped and released it.
func TestApplyRefusesWhileAnotherReplicaLeads(t *testing.T) {
	cp := kube.StartT(t, 1)[0]
	cs := kube.ClientsetT(t, cp)
	kube.NamespaceT(t, cs, "k3sync")
	cfg := writeConfig(t, fmt.Sprintf(`clusters:
  c1: {kubeconfig: %q}
state: {backend: kubernetes, namespace: k3sync, cluster: c1}
reconcile:
  leaderElection: {cluster: c1, namespace: k3sync, name: k3sync-leader, leaseDuration: 30s}
`, cp.KubeconfigPath()))
	repo := tinyRepo(t)

	// A daemon replica holding the Lease, as `k3sync serve` does.
	e, err := leader.New(cs, leader.Config{Namespace: "k3sync", Name: "k3sync-leader", Identity: "k3sync-0",
		LeaseDuration: 30 * time.Second, RenewDeadline: 20 * time.Second, RetryPeriod: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	leading := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = e.Run(ctx, func(ctx context.Context) { close(leading); <-ctx.Done() })
	}()
	select {
	case <-leading:
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon replica did not take the Lease")
	}

	out, errOut, code := run(t, "apply", "--config", cfg, "--repo", repo)
	if code != ExitError {
		t.Fatalf("apply while k3sync-0 leads: exit %d, want %d\n%s%s", code, ExitError, out, errOut)
	}
	for _, want := range []string{"replica k3sync-0 holds the Lease k3sync/k3sync-leader", "k3sync sync --server URL"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
	if _, err := cs.CoreV1().Namespaces().Get(t.Context(), "demo", metav1.GetOptions{}); err == nil {
		t.Error("the refused apply created the tenant's namespace")
	}

	// The daemon stops cleanly and releases the Lease: apply runs.
	stop()
	<-stopped
	out, errOut, code = run(t, "apply", "--config", cfg, "--repo", repo)
	if code != 0 {
		t.Fatalf("apply after the daemon stopped: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := cs.CoreV1().Namespaces().Get(t.Context(), "demo", metav1.GetOptions{}); err != nil {
		t.Errorf("apply after the daemon stopped: %v", err)
	}
}
