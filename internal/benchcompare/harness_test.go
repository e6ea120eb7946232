//go:build unix

package benchcompare

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/target/kubernetes"
	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/k3sync/k3sync/internal/testenv/proc"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
)

// cluster is the one logical cluster the Kubernetes comparison places
// every tenant on.
const cluster = "eu-west"

// generated is a repo of n generated tenants on cluster, edited by edit
// (nil: as generated).
func generated(n int, edit func(fstest.MapFS)) fstest.MapFS {
	fsys := repogen.Generate(repogen.Options{Tenants: n, Clusters: []string{cluster}})
	if edit != nil {
		edit(fsys)
	}
	return fsys
}

// request loads fsys and renders every tenant, as the daemon does.
func request(tb testing.TB, fsys fstest.MapFS) plan.Request {
	tb.Helper()
	r, err := loader.Load(fsys)
	if err != nil {
		tb.Fatalf("load generated repo: %v", err)
	}
	return requestOf(r)
}

func requestOf(r *model.Repo) plan.Request {
	req := plan.Request{Revision: "bench", Platform: &r.Platform, Complete: true}
	for _, tn := range r.Tenants {
		req.Tenants = append(req.Tenants, plan.TenantRequest{Desired: render.TenantResources(&r.Platform, tn), Model: tn})
	}
	return req
}

// applier is a target's apply.
type applier interface {
	Apply(ctx context.Context, req plan.Request, opts plan.ApplyOptions) ([]plan.Result, error)
}

// mustApply applies req with tg, fails on any error and returns the
// number of changes made.
func mustApply(tb testing.TB, tg applier, req plan.Request) int {
	tb.Helper()
	results, err := tg.Apply(tb.Context(), req, plan.ApplyOptions{})
	if err != nil {
		tb.Fatalf("apply: %v", err)
	}
	for _, res := range results {
		if res.Err != nil {
			tb.Fatalf("apply %s: %v", res.Key, res.Err)
		}
	}
	return len(results)
}

// kubeTarget is a Kubernetes target of cp, tuned as the daemon's
// benchmarks tune it, keeping its inventory in store.
func kubeTarget(tb testing.TB, cp *kube.ControlPlane, store state.Store) *kubernetes.Target {
	tb.Helper()
	tg, err := kubernetes.New(cluster, config.Cluster{Kubeconfig: cp.KubeconfigPath(), QPS: 2000, Burst: 4000, Concurrency: 16}, store)
	if err != nil {
		tb.Fatal(err)
	}
	return tg
}

// kubectlBinary is bin/k8s-<version>/kubectl, built by make kube-bins
// from the same Kubernetes release as the apiserver. Never a kubectl
// from PATH: its version would be whatever the machine has.
func kubectlBinary(tb testing.TB) string {
	tb.Helper()
	dir, err := proc.BinDir("", kube.BinDirEnv, "k8s-"+kube.Version, "kube binaries")
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(dir, "kubectl")
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		tb.Fatalf("kubectl not found in %s: run 'make kube-bins'", dir)
	}
	return bin
}

// kubectl runs the kubectl built for the tests with kubeconfig and a
// discovery cache in dir (shared by the runs of one benchmark, as a
// user's ~/.kube/cache is).
type kubectl struct {
	bin, kubeconfig, dir string
}

func newKubectl(tb testing.TB, cp *kube.ControlPlane) *kubectl {
	tb.Helper()
	return &kubectl{bin: kubectlBinary(tb), kubeconfig: cp.KubeconfigPath(), dir: tb.TempDir()}
}

// diff runs `kubectl diff --server-side` of the objects in file as k3sync's
// field manager. It returns the output, whether kubectl found differences
// (exit status 1) and the CPU time of the kubectl process; any other
// failure fails tb.
func (k *kubectl) diff(tb testing.TB, file string) (out string, differs bool, cpu time.Duration) {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), k.bin, "--kubeconfig", k.kubeconfig, "--cache-dir", filepath.Join(k.dir, "cache"),
		"diff", "--server-side", "--field-manager", kubernetes.FieldManager, "-f", file)
	cmd.Env = append(os.Environ(), "HOME="+k.dir, "KUBECTL_EXTERNAL_DIFF=")
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		differs = true
	default:
		tb.Fatalf("kubectl diff --server-side: %v\n%.4000s", err, b)
	}
	return string(b), differs, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// version is the client version kubectl reports.
func (k *kubectl) version(tb testing.TB) string {
	tb.Helper()
	b, err := exec.CommandContext(tb.Context(), k.bin, "version", "--client").CombinedOutput()
	if err != nil {
		tb.Fatalf("kubectl version: %v\n%s", err, b)
	}
	return strings.TrimSpace(string(b))
}

// kubeObjects writes the Kubernetes objects req wants on cluster as one
// List document into a file in dir, for kubectl -f, and returns the file
// and the number of objects.
func kubeObjects(tb testing.TB, req plan.Request, dir string) (string, int) {
	tb.Helper()
	var docs []string
	for _, tr := range req.Tenants {
		for _, cr := range tr.Desired.Kubernetes {
			if cr.Cluster != cluster {
				continue
			}
			for _, o := range cr.Objects {
				j, err := o.MarshalJSON()
				if err != nil {
					tb.Fatal(err)
				}
				docs = append(docs, string(j))
			}
		}
	}
	file := filepath.Join(dir, "objects.json")
	list := `{"apiVersion":"v1","kind":"List","items":[` + strings.Join(docs, ",") + `]}`
	if err := os.WriteFile(file, []byte(list), 0o600); err != nil {
		tb.Fatal(err)
	}
	return file, len(docs)
}

// deck runs Debian's decK (1.4.0, /usr/bin/deck; .ci/run installs it)
// against a gateway's Admin API, with its home in a temporary directory.
type deck struct {
	bin, url, dir string
}

func newDeck(tb testing.TB, url string) *deck {
	tb.Helper()
	bin, err := exec.LookPath("deck")
	if err != nil {
		tb.Fatal("deck not found: install Debian package deck (.ci/run does)")
	}
	return &deck{bin: bin, url: url, dir: tb.TempDir()}
}

// run runs deck with args and returns its output and CPU time; a failure
// fails tb.
func (d *deck) run(tb testing.TB, args ...string) (string, time.Duration) {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), d.bin, append(args, "--kong-addr", d.url, "--no-color")...)
	cmd.Dir = d.dir
	// decK 1.4.0 has no --analytics flag; the variable quiets newer ones.
	cmd.Env = append(os.Environ(), "DECK_ANALYTICS=off", "HOME="+d.dir)
	b, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("deck %s: %v\n%.4000s", strings.Join(args, " "), err, b)
	}
	return string(b), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// summary is decK diff's summary on one line: "Created: 0 Updated: 0
// Deleted: 0".
func summary(out string) string {
	flat := strings.Join(strings.Fields(out), " ")
	if i := strings.Index(flat, "Created:"); i >= 0 {
		return flat[i:]
	}
	return flat
}

// cpuTime is the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// keys lists the keys of changes, for failure messages.
func keys(changes []plan.Change) string {
	var b strings.Builder
	for i, c := range changes {
		if i == 10 {
			fmt.Fprintf(&b, " … (%d more)", len(changes)-i)
			break
		}
		fmt.Fprintf(&b, " %s %s", c.Action, c.Key.String())
	}
	return b.String()
}

// deckEntities are the keys under which a decK dump lists entities.
var deckEntities = map[string]bool{
	"services": true, "routes": true, "plugins": true, "upstreams": true, "targets": true,
	"consumers": true, "keyauth_credentials": true, "acls": true, "certificates": true,
	"snis": true, "ca_certificates": true, "consumer_groups": true,
}

// dumped counts the entities in the decK dump at path.
func dumped(tb testing.TB, path string) int {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		tb.Fatalf("parse deck dump: %v", err)
	}
	var count func(m map[string]any) int
	count = func(m map[string]any) int {
		n := 0
		for k, v := range m {
			items, ok := v.([]any)
			if !ok || !deckEntities[k] {
				continue
			}
			for _, it := range items {
				if e, ok := it.(map[string]any); ok {
					n += 1 + count(e)
				}
			}
		}
		return n
	}
	return count(doc)
}

// serverCPU returns a function that tells the CPU time used so far by
// cp's kube-apiserver and etcd processes, read from /proc (Linux), and
// whether it could find them. They are found by their command lines,
// which name cp's ports.
func serverCPU(tb testing.TB, cp *kube.ControlPlane) (func() time.Duration, bool) {
	tb.Helper()
	marks := []string{"--secure-port=" + port(cp.URL), cp.EtcdURL}
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, m := range marks {
			if m != "" && bytes.Contains(cmdline, []byte(m)) {
				pids = append(pids, e.Name())
				break
			}
		}
	}
	if len(pids) < 2 {
		return nil, false
	}
	return func() time.Duration {
		var total time.Duration
		for _, pid := range pids {
			stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
			if err != nil {
				continue
			}
			// The fields after the command name (which may hold spaces):
			// state is field 3, utime and stime fields 14 and 15, in
			// clock ticks of 1/100 s.
			rest := stat[bytes.LastIndexByte(stat, ')')+1:]
			f := strings.Fields(string(rest))
			if len(f) < 13 {
				continue
			}
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			total += time.Duration(u+s) * 10 * time.Millisecond
		}
		return total
	}, true
}

// port is the port of an http(s)://host:port address.
func port(url string) string {
	if i := strings.LastIndexByte(url, ':'); i >= 0 {
		return url[i+1:]
	}
	return ""
}
