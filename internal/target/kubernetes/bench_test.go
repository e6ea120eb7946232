package kubernetes

import (
	"runtime"
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
