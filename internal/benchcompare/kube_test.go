//go:build unix

package benchcompare

import (
	"flag"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
)

// tenants is the size of the generated platform the benchmarks compare
// on (the smoke tests use 5).
var tenants = flag.Int("benchcompare.tenants", 1000, "generated tenants in the comparison benchmarks")

// TestKubectlDiffAgreesWithPlan is the smoke test of the Kubernetes
// comparison: after k3sync applied 5 generated tenants, k3sync's plan and
// `kubectl diff --server-side` (the kubectl of the apiserver's release)
// of the same objects both find nothing to do; after one label changes in
// the repo, both find that change, and kubectl's dry run wrote nothing.
func TestKubectlDiffAgreesWithPlan(t *testing.T) {
	kubectlBinary(t) // before anything starts
	cp := kube.StartT(t, 1)[0]
	k := newKubectl(t, cp)
	if v := k.version(t); !strings.Contains(v, kube.Version) {
		t.Fatalf("kubectl is not of the apiserver's release %s: %q (run 'make kube-bins')", kube.Version, v)
	}
	store := state.NewMemory()
	if _, ok := serverCPU(t, cp); !ok && runtime.GOOS == "linux" {
		t.Error("the apiserver's and etcd's processes are not found in /proc: the benchmark cannot report their CPU time")
	}
	tg := kubeTarget(t, cp, store)
	req := request(t, generated(5, nil))
	mustApply(t, tg, req)

	if changes, err := tg.Plan(t.Context(), req); err != nil || len(changes) != 0 {
		t.Fatalf("k3sync plan after apply: %v,%s", err, keys(changes))
	}
	file, n := kubeObjects(t, req, t.TempDir())
	if n != 5*14 {
		t.Errorf("kubectl is given %d objects, want 70 (14 per tenant)", n)
	}
	if out, differs, _ := k.diff(t, file); differs || strings.TrimSpace(out) != "" {
		t.Errorf("kubectl diff --server-side after k3sync applied: differs=%v\n%s", differs, out)
	}

	name := repogen.TenantName(0)
	edited := request(t, generated(5, func(fsys fstest.MapFS) {
		f := fsys["tenants/"+name+"/tenant.cue"]
		f.Data = []byte(strings.Replace(string(f.Data), `"cost-center": "`+name+`"`, `"cost-center": "edited"`, 1))
	}))
	changes, err := tg.Plan(t.Context(), edited)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Action != plan.Update || !strings.Contains(changes[0].Key.String(), name) {
		t.Errorf("k3sync plan after the label edit:%s; want one update of namespace %s", keys(changes), name)
	}
	file, _ = kubeObjects(t, edited, t.TempDir())
	out, differs, _ := k.diff(t, file)
	if !differs || !strings.Contains(out, "cost-center: edited") {
		t.Errorf("kubectl diff --server-side after the label edit: differs=%v, want the new label in:\n%s", differs, out)
	}
	if changes, err := tg.Plan(t.Context(), req); err != nil || len(changes) != 0 {
		t.Errorf("k3sync plan of the applied repo after kubectl's dry run: %v,%s", err, keys(changes))
	}
}

// BenchmarkKubernetesNoopPlan compares k3sync's plan with `kubectl diff
// --server-side` on the same objects (14 per tenant, of the kinds
// Namespace, ServiceAccount, ResourceQuota, LimitRange, RoleBinding and
// NetworkPolicy) of -benchcompare.tenants generated tenants, against the same real kube-apiserver, after k3sync
// applied them: both find nothing to do.
//
//   - k3sync: one target plans again and again, as the daemon's poll
//     does (it keeps what it learned of the apiserver's types).
//   - k3sync-cold: a new target for every plan, as `k3sync plan` run
//     from a shell: discovery and schemas are read again.
//   - kubectl-diff: one kubectl process per diff, with its discovery
//     cache warm (one run before timing, as a user's ~/.kube/cache).
//
// cpu-ms/op is the client's CPU time (the test process for k3sync, the
// kubectl process for kubectl); server-cpu-ms/op the apiserver's and
// etcd's (read from /proc on Linux), total-cpu-ms/op both. CPU time
// compares on a busy machine, where wall time mostly measures the
// machine's other work.
func BenchmarkKubernetesNoopPlan(b *testing.B) {
	kubectlBinary(b) // before the setup's minute of applying
	cp := kube.StartT(b, 1)[0]
	store := state.NewMemory()
	tg := kubeTarget(b, cp, store)
	req := request(b, generated(*tenants, nil))
	start := time.Now()
	applied := mustApply(b, tg, req)
	b.Logf("setup: k3sync applied %d objects of %d tenants in %s", applied, *tenants, time.Since(start).Round(time.Millisecond))
	if changes, err := tg.Plan(b.Context(), req); err != nil || len(changes) != 0 {
		b.Fatalf("k3sync plan after apply: %v,%s", err, keys(changes))
	}
	k := newKubectl(b, cp)
	file, objects := kubeObjects(b, req, b.TempDir())
	if out, differs, _ := k.diff(b, file); differs {
		b.Fatalf("kubectl diff --server-side after k3sync applied finds differences:\n%.4000s", out)
	}
	server, measured := serverCPU(b, cp)
	if !measured {
		b.Log("the apiserver's and etcd's processes were not found in /proc: no server-cpu-ms/op")
	}
	// report reports the CPU time of the client, of the server and of
	// both, per run; s0 is the server's CPU time before the runs.
	report := func(b *testing.B, runs int, client, s0 time.Duration) {
		b.ReportMetric(float64(client.Microseconds())/1000/float64(runs), "cpu-ms/op")
		if measured {
			s := server() - s0
			b.ReportMetric(float64(s.Microseconds())/1000/float64(runs), "server-cpu-ms/op")
			b.ReportMetric(float64((client+s).Microseconds())/1000/float64(runs), "total-cpu-ms/op")
		}
		b.ReportMetric(float64(objects), "objects")
	}
	runtime.GC()

	planLoop := func(b *testing.B, fresh bool) {
		var reads int64
		plans := 0
		var s0 time.Duration
		if measured {
			s0 = server()
		}
		cpu := cpuTime()
		for b.Loop() {
			t := tg
			if fresh {
				t = kubeTarget(b, cp, store)
			}
			before := t.Stats().Reads.Load()
			changes, err := t.Plan(b.Context(), req)
			if err != nil || len(changes) != 0 {
				b.Fatalf("k3sync plan: %v,%s", err, keys(changes))
			}
			reads += t.Stats().Reads.Load() - before
			plans++
		}
		cpu = cpuTime() - cpu
		b.ReportMetric(float64(reads)/float64(plans), "reads/op")
		report(b, plans, cpu, s0)
	}
	b.Run("k3sync", func(b *testing.B) { planLoop(b, false) })
	b.Run("k3sync-cold", func(b *testing.B) { planLoop(b, true) })
	b.Run("kubectl-diff", func(b *testing.B) {
		runs := 0
		var cpu, s0 time.Duration
		if measured {
			s0 = server()
		}
		for b.Loop() {
			out, differs, c := k.diff(b, file)
			if differs {
				b.Fatalf("kubectl diff --server-side finds differences:\n%.4000s", out)
			}
			cpu += c
			runs++
		}
		report(b, runs, cpu, s0)
	})
}
