package kubernetes

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
)

// BenchmarkPlanNoop plans 1,000 generated tenants (14 objects each) on two
// live clusters after applying them: the no-op plan every poll runs.
func BenchmarkPlanNoop(b *testing.B) {
	const tenants = 1000
	cps := kube.StartT(b, 2)
	r, err := loader.Load(repogen.Generate(repogen.Options{Tenants: tenants}))
	if err != nil {
		b.Fatal(err)
	}
	req := request(r)
	store := state.NewMemory()
	var targets []*Target
	for i, name := range []string{"eu-west", "us-east"} {
		tg, err := New(name, config.Cluster{Kubeconfig: cps[i].KubeconfigPath(), QPS: 2000, Burst: 4000, Concurrency: 16}, store)
		if err != nil {
			b.Fatal(err)
		}
		targets = append(targets, tg)
	}
	start := time.Now()
	objects := 0
	for _, tg := range targets {
		results, err := tg.Apply(b.Context(), req, plan.ApplyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, res := range results {
			if res.Err != nil {
				b.Fatal(res.Err)
			}
		}
		objects += len(results)
	}
	b.Logf("first apply: %d objects on 2 clusters in %s", objects, time.Since(start).Round(time.Millisecond))
	runtime.GC()

	var reads, writes int64
	for _, tg := range targets {
		reads -= tg.Stats().Reads.Load()
		writes -= tg.Stats().Writes.Load()
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		n++
		for _, tg := range targets {
			changes, err := tg.Plan(b.Context(), req)
			if err != nil {
				b.Fatal(err)
			}
			if len(changes) != 0 {
				b.Fatalf("%s: no-op plan has %d changes", tg.Name(), len(changes))
			}
		}
	}
	b.StopTimer()
	for _, tg := range targets {
		reads += tg.Stats().Reads.Load()
		writes += tg.Stats().Writes.Load()
	}
	b.ReportMetric(float64(reads)/float64(n), "reads/op")
	b.ReportMetric(float64(writes)/float64(n), "writes/op")
	b.ReportMetric(float64(objects)/2, "objects/cluster")
}

// BenchmarkKubectlDiffServerSide runs `kubectl diff --server-side` over the
// objects of 100 generated tenants on one live cluster, for comparison
// with BenchmarkPlanVsKubectl (the same objects through Plan). kubectl
// sends a GET and a dry-run PATCH per object.
func BenchmarkKubectlDiffServerSide(b *testing.B) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		b.Fatal("kubectl not found: this comparison needs a kubectl on PATH")
	}
	tg, req, kubeconfig := benchCluster(b, 100)
	var docs []string
	for _, tr := range req.Tenants {
		for _, cr := range tr.Desired.Kubernetes {
			if cr.Cluster != tg.Name() {
				continue
			}
			for _, o := range cr.Objects {
				j, err := o.MarshalJSON()
				if err != nil {
					b.Fatal(err)
				}
				docs = append(docs, string(j))
			}
		}
	}
	file := filepath.Join(b.TempDir(), "objects.yaml")
	list := `{"apiVersion":"v1","kind":"List","items":[` + strings.Join(docs, ",") + `]}`
	if err := os.WriteFile(file, []byte(list), 0o600); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.CommandContext(b.Context(), kubectl, "--kubeconfig", kubeconfig, "diff", "--server-side", "--field-manager", FieldManager, "-f", file)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 0) {
			b.Fatalf("kubectl diff: %v\n%.2000s", err, out)
		}
	}
	b.ReportMetric(float64(len(docs)), "objects")
}

// BenchmarkPlanVsKubectl plans the same 100 tenants on one cluster.
func BenchmarkPlanVsKubectl(b *testing.B) {
	tg, req, _ := benchCluster(b, 100)
	reads := tg.Stats().Reads.Load()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		n++
		if changes, err := tg.Plan(b.Context(), req); err != nil || len(changes) != 0 {
			b.Fatalf("plan: %v, %d changes", err, len(changes))
		}
	}
	b.ReportMetric(float64(tg.Stats().Reads.Load()-reads)/float64(n), "reads/op")
}

// benchCluster applies n generated tenants to one live cluster.
func benchCluster(b *testing.B, n int) (*Target, plan.Request, string) {
	cps := kube.StartT(b, 1)
	r, err := loader.Load(repogen.Generate(repogen.Options{Tenants: n, Clusters: []string{"eu-west"}}))
	if err != nil {
		b.Fatal(err)
	}
	req := request(r)
	tg, err := New("eu-west", config.Cluster{Kubeconfig: cps[0].KubeconfigPath(), QPS: 2000, Burst: 4000, Concurrency: 16}, state.NewMemory())
	if err != nil {
		b.Fatal(err)
	}
	results, err := tg.Apply(b.Context(), req, plan.ApplyOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, res := range results {
		if res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	return tg, req, cps[0].KubeconfigPath()
}
