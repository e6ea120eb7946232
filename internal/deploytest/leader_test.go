package deploytest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// buildK3sync builds cmd/k3sync from this tree into a temporary folder.
func buildK3sync(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: the test builds k3sync with it")
	}
	bin := filepath.Join(t.TempDir(), "k3sync")
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, "./cmd/k3sync")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/k3sync: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// replica is one `k3sync serve` process.
type replica struct {
	id     string
	url    string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func (r *replica) readyz() int {
	resp, err := http.Get(r.url + "/readyz") //nolint:noctx // a probe, bounded by the client's timeout
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func (r *replica) logs() string {
	b, _ := os.ReadFile(r.log)
	return string(b)
}

// tinyPlatform is a platform repo with one cluster and one tenant.
var tinyPlatform = map[string]string{
	"platform.cue": `package k3sync

clusters: c1: {
	region: "local"
	capacity: {cpu: "8", memory: "16Gi", pods: 100}
}
policy: {}
`,
	"tenants/demo/tenant.cue": `package k3sync

owners: ["team-demo@example.com"]
kubernetes: {
	clusters: ["c1"]
	namespaces: demo: quota: {
		requests: {cpu: "1", memory: "1Gi"}
		pods: 10
	}
	access: [{group: "demo-developers", role: "edit"}]
}
`,
}

// TestTwoReplicas runs two `k3sync serve` processes built from this tree,
// with one configuration but for their identity and port, against one real
// apiserver: one leads (the Lease names it, its /readyz answers 200, the
// other's 503), the leader applies the repo once, and when it is SIGKILLed
// the other takes the Lease within the lease duration, finds the shared
// state in the Secrets and applies nothing again.
func TestTwoReplicas(t *testing.T) {
	const leaseDuration = 3 * time.Second
	bin := buildK3sync(t)
	cp := kube.StartT(t, 1)[0]
	ctx := t.Context()
	admin := kube.ClientsetT(t, cp)
	kube.NamespaceT(t, admin, "k3sync")
	repo := gitserver.NewRepo(t, t.TempDir(), "platform.git")
	for name, content := range tinyPlatform {
		repo.WriteFile(name, content)
	}
	repo.Commit("A platform with one tenant")

	dir := t.TempDir()
	replicas := map[string]*replica{}
	for _, id := range []string{"a", "b"} {
		port := freePort(t)
		cfg := fmt.Sprintf(`clusters:
  c1: {kubeconfig: %q}
state: {backend: kubernetes, namespace: k3sync, cluster: c1}
git: {url: %q, branch: main, interval: 1h, dir: %q}
server: {listen: "127.0.0.1:%d"}
reconcile:
  leaderElection: {cluster: c1, namespace: k3sync, name: k3sync-leader, identity: %s, leaseDuration: %s}
`, cp.KubeconfigPath(), repo.FileURL(), filepath.Join(dir, id, "clone"), port, id, leaseDuration)
		file := filepath.Join(dir, id+".yaml")
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r := &replica{id: id, url: fmt.Sprintf("http://127.0.0.1:%d", port), log: filepath.Join(dir, id+".log"), exited: make(chan struct{})}
		logf, err := os.Create(r.log)
		if err != nil {
			t.Fatal(err)
		}
		r.cmd = exec.CommandContext(ctx, bin, "serve", "--config", file)
		r.cmd.Stdout, r.cmd.Stderr = logf, logf
		r.cmd.SysProcAttr = sysProcAttr()
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = r.cmd.Wait(); _ = logf.Close(); close(r.exited) }()
		replicas[id] = r
	}
	t.Cleanup(func() {
		for _, r := range replicas {
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			for _, r := range replicas {
				t.Logf("replica %s:\n%s", r.id, r.logs())
			}
		}
	})

	// Never two ready leaders at once, sampled until the end.
	var both atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if replicas["a"].readyz() == http.StatusOK && replicas["b"].readyz() == http.StatusOK {
				both.Store(true)
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	holder := func() string {
		l, err := admin.CoordinationV1().Leases("k3sync").Get(ctx, "k3sync-leader", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	waitFor := func(what string, timeout time.Duration, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > timeout {
				t.Fatalf("%s: not after %s", what, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}

	// One leader, ready once it has applied; the other follows.
	var leader string
	waitFor("a replica holds the Lease", 30*time.Second, func() bool { leader = holder(); return leader != "" })
	follower := map[string]string{"a": "b", "b": "a"}[leader]
	if replicas[leader] == nil {
		t.Fatalf("Lease held by %q, not one of the replicas", leader)
	}
	waitFor("the leader's /readyz answers 200", 60*time.Second, func() bool { return replicas[leader].readyz() == http.StatusOK })
	if code := replicas[follower].readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("follower %s /readyz: %d, want 503", follower, code)
	}
	ns, err := admin.CoreV1().Namespaces().Get(ctx, "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the leader did not apply the repo: %v", err)
	}
	store, err := state.NewKube(admin, "k3sync")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := store.Runs(ctx, "demo", 0)
	if err != nil || len(runs) != 1 || runs[0].Result != state.ResultSynced {
		t.Fatalf("journal after the first sync: %+v %v; want one synced run", runs, err)
	}

	// SIGKILL the leader: no release, the Lease must expire.
	killed := time.Now()
	if err := replicas[leader].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-replicas[leader].exited
	retryPeriod := leaseDuration * 2 / 15
	waitFor("the follower takes the Lease", 30*time.Second, func() bool { return holder() == follower })
	handover := time.Since(killed)
	t.Logf("Lease handed over %s after SIGKILL (lease %s, retry period %s)", handover.Round(time.Millisecond), leaseDuration, retryPeriod)
	// The follower takes an expired Lease at its next retry; allow one
	// more retry and a second of scheduling.
	if limit := leaseDuration + 2*retryPeriod + time.Second; handover > limit {
		t.Errorf("handover took %s, more than the lease duration (+ retries) %s", handover, limit)
	}
	waitFor("the new leader's /readyz answers 200", 60*time.Second, func() bool { return replicas[follower].readyz() == http.StatusOK })

	// No double apply: the new leader planned from the shared state and
	// changed nothing.
	again, err := admin.CoreV1().Namespaces().Get(ctx, "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != ns.ResourceVersion {
		t.Errorf("namespace demo rewritten after the handover: resourceVersion %s → %s, managedFields %+v", ns.ResourceVersion, again.ResourceVersion, again.ManagedFields)
	}
	if runs, err := store.Runs(ctx, "demo", 0); err != nil || len(runs) != 1 {
		t.Errorf("journal after the handover: %d runs (%v), want still the one", len(runs), err)
	}
	if both.Load() {
		t.Error("both replicas answered /readyz 200 at once")
	}

	// A clean stop releases the Lease at once.
	if err := replicas[follower].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	released := waitFor("SIGTERM releases the Lease", 10*time.Second, func() bool { return holder() == "" })
	t.Logf("Lease released %s after SIGTERM", released.Round(time.Millisecond))
	select {
	case <-replicas[follower].exited:
	case <-time.After(15 * time.Second):
		t.Error("k3sync serve did not exit on SIGTERM")
	}
}
