package daemon

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
)

const crashTenants = 100

// killPoint is when, in the first apply, the kill comes: once progress
// (what exists live) says so.
type killPoint struct {
	name, what string
	reached    func(p crashProgress) bool
}

// crashProgress is what the first apply made so far.
type crashProgress struct {
	namespaces, topics, consumers int // on eu-west, in Kafka, in Kong
}

// crashSeeds pick the random kill points of TestKillDuringApplyConverges;
// -crash.seeds 1,2,3,4,5 tries more.
var crashSeeds = flag.String("crash.seeds", "1,2", "comma-separated seeds of TestKillDuringApplyConverges's random kill points")

// TestKillDuringApplyConverges kills `k3sync serve` with SIGKILL in the
// middle of its first apply, at several points: while the namespaces are
// being created, while the Kafka topics are, and while the Kong
// consumers are (the apply goes through the systems in that order for
// each tenant, tenants side by side), and at random points, one per seed
// of -crash.seeds: once a random share of everything the apply makes
// exists. Each time it restarts it and checks
// that it converges with nothing lost (every resource exists and is still
// owned: removing a tenant from Git plans the removal of everything it
// had) and nothing duplicated (ACLs and key-auth credentials exist once).
func TestKillDuringApplyConverges(t *testing.T) {
	bin := buildK3sync(t)
	points := []killPoint{
		{"kubernetes", "10 namespaces on eu-west", func(p crashProgress) bool { return p.namespaces >= 10 }},
		{"kafka", "a third of the topics", func(p crashProgress) bool { return p.topics >= crashTenants }},
		{"kong", "half of the Kong consumers", func(p crashProgress) bool { return p.consumers >= crashTenants/2 }},
	}
	for f := range strings.SplitSeq(*crashSeeds, ",") {
		seed, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			t.Fatalf("-crash.seeds %q: %v", *crashSeeds, err)
		}
		// Of the 2×100 namespaces, 300 topics and 100 consumers the
		// apply makes, somewhere between 5% and 80%.
		const total = 2*crashTenants + 3*crashTenants + crashTenants
		n := total/20 + rand.New(rand.NewPCG(seed, 19)).IntN(total*3/4)
		points = append(points, killPoint{fmt.Sprintf("seed-%d", seed), fmt.Sprintf("%d of the %d namespaces, topics and consumers (seed %d)", n, total, seed),
			func(p crashProgress) bool { return p.namespaces+p.topics+p.consumers >= n }})
	}
	for _, kp := range points {
		t.Run(kp.name, func(t *testing.T) { killAndConverge(t, bin, kp) })
	}
}

func killAndConverge(t *testing.T, bin string, kp killPoint) {
	cps := kube.StartT(t, 2)
	kc, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	kong := kongemu.New(kongemu.Options{})
	kongURL, err := kong.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	repo := gitserver.NewRepo(t, root, "platform.git")
	if err := repogen.WriteDir(repo.Work, repogen.Options{Tenants: crashTenants}); err != nil {
		t.Fatal(err)
	}
	repo.Commit("Generated tenants")

	dir := t.TempDir()
	listen := freeAddr(t)
	brokers, _ := json.Marshal(kc.ListenAddrs())
	cfg := filepath.Join(dir, "k3sync.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`clusters:
  eu-west: {kubeconfig: %q, qps: 200, burst: 400}
  us-east: {kubeconfig: %q, qps: 200, burst: 400}
kafka:
  main: {brokers: %s}
gateways:
  edge: {adminURL: %q}
state: {path: %q}
git: {url: %q, interval: 1h, dir: %q}
server: {listen: %q}
`, cps[0].KubeconfigPath(), cps[1].KubeconfigPath(), brokers, kongURL, filepath.Join(dir, "state.db"),
		repo.FileURL(), filepath.Join(dir, "clone"), listen)), 0o600); err != nil {
		t.Fatal(err)
	}
	eu, err := kubernetes.NewForConfig(cps[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	managed := metav1.ListOptions{LabelSelector: render.LabelManagedBy + "=" + render.ManagedBy}

	adm := kadm.NewClient(mustKgo(t, kc.ListenAddrs()))
	progress := func() crashProgress {
		var p crashProgress
		if l, err := eu.CoreV1().Namespaces().List(t.Context(), managed); err == nil {
			p.namespaces = len(l.Items)
		}
		if topics, err := adm.ListTopics(t.Context()); err == nil {
			p.topics = len(topics)
		}
		p.consumers = kong.Count("consumers")
		return p
	}

	// First run: killed at the kill point, before the apply is done. The
	// gateway answers each request of this run 50 ms late, so that the
	// Kong part, the last of each tenant's apply, lasts seconds and the
	// apply is still under way when progress (polled every 50 ms) says
	// the kill point is reached: unslowed, a fast machine finished the
	// last third of the apply between two polls, and the kill
	// interrupted nothing. At 20 ms, the Kafka point (topics come in
	// batches of a round's tenants) was first seen with 70 of the 100
	// consumers made, and once, in CI, with all of them.
	kong.Inject(kongemu.Fault{Latency: 50 * time.Millisecond})
	first := startServe(t, bin, cfg)
	waitFor(t, 2*time.Minute, "the first apply to reach "+kp.what, func() bool { return kp.reached(progress()) })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	kong.ClearFaults()
	at := progress()
	t.Logf("killed at %s: %d of %d namespaces on eu-west, %d of %d topics, %d of %d Kong consumers",
		kp.what, at.namespaces, 2*crashTenants, at.topics, 3*crashTenants, at.consumers, crashTenants)
	if out, code := runK3sync(t, bin, "plan", "--config", cfg, "--repo", repo.Work); code != 2 {
		t.Fatalf("plan after the kill: exit %d, want 2 (changes left): the kill interrupted nothing\n%s", code, tail(out))
	}

	// Second run: converges.
	second := startServe(t, bin, cfg)
	waitFor(t, 3*time.Minute, "the restarted daemon to finish its first sync", func() bool {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+listen+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	// Nothing left to do.
	if out, code := runK3sync(t, bin, "plan", "--config", cfg, "--repo", repo.Work); code != 0 {
		t.Fatalf("plan after the restart: exit %d\n%s", code, tail(out))
	}
	// Nothing duplicated.
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeAny
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(t.Context(), mustKgo(t, kc.ListenAddrs()))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range resp.Resources {
		n += len(r.ACLs)
	}
	if want := crashTenants * 4; n != want {
		t.Errorf("ACL bindings: %d, want %d", n, want)
	}
	if got := kong.Count("key-auths"); got != crashTenants {
		t.Errorf("key-auth credentials: %d, want %d (one per consumer)", got, crashTenants)
	}
	// Nothing lost: the inventory still owns everything of a tenant, so
	// removing it from Git plans the removal of all of it.
	victim := repogen.TenantName(7)
	if err := os.RemoveAll(filepath.Join(repo.Work, "tenants", victim)); err != nil {
		t.Fatal(err)
	}
	out, code := runK3sync(t, bin, "plan", "--config", cfg, "--repo", repo.Work, "--allow-mass-deletion", "--output", "json")
	if code != 2 {
		t.Fatalf("plan without %s: exit %d\n%s", victim, code, tail(out))
	}
	var p struct {
		Changes []struct{ Tenant, System, Action string } `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	perSystem := map[string]int{}
	for _, c := range p.Changes {
		if c.Tenant == victim && (c.Action == "delete" || c.Action == "orphan") {
			perSystem[c.System]++
		}
	}
	// 14 objects on each of 2 clusters; 3 topics + 4 ACLs + 1 quota + 1
	// user; Kong: 1 service, 2 routes, 1 plugin, 1 consumer, 1 key-auth,
	// 1 upstream, 1 target at least.
	if perSystem["kubernetes"] != 28 || perSystem["kafka"] < 9 || perSystem["kong"] < 7 {
		t.Errorf("removal of %s plans %v: the inventory lost something", victim, perSystem)
	}
}

func buildK3sync(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "k3sync")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/k3sync/k3sync/cmd/k3sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startServe starts `k3sync serve` with this process's environment and
// env added to it, for the binary alone (not the peers the test started).
func startServe(t testing.TB, bin, cfg string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg) //nolint:noctx // killed by the test itself
	cmd.Env = append(os.Environ(), env...)
	log, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("serve log:\n%s", tail(string(b)))
		}
	})
	return cmd
}

func runK3sync(t testing.TB, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out) + string(ee.Stderr), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
