package benchcompare

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// output is `go test -bench` output of two packages, with log lines, a
// benchmark run twice (-count 2) and a GOMAXPROCS suffix.
const output = `goos: linux
goarch: amd64
pkg: github.com/k3sync/k3sync/internal/benchcompare
cpu: Intel(R) Xeon(R) Processor
BenchmarkKongNoopPlan/k3sync-2         	       3	  20000000 ns/op	        16.40 cpu-ms/op	       34.00 reads/op
BenchmarkKongNoopPlan/k3sync-cold-2    	       3	 400000000 ns/op	       900.0 cpu-ms/op	       34.00 reads/op
BenchmarkKongNoopPlan/deck-diff-2      	       3	1000000000 ns/op	      2000 cpu-ms/op	       36.00 reads/op
BenchmarkKubernetesNoopPlan
    kube_test.go:94: setup: k3sync applied 14000 objects of 1000 tenants in 1m2s
BenchmarkKubernetesNoopPlan/k3sync-2        	       1	 600000000 ns/op	       400.0 cpu-ms/op	       20.00 reads/op	100 server-cpu-ms/op	500 total-cpu-ms/op
BenchmarkKubernetesNoopPlan/k3sync-2        	       1	 400000000 ns/op	       200.0 cpu-ms/op	       20.00 reads/op	100 server-cpu-ms/op	300 total-cpu-ms/op
BenchmarkKubernetesNoopPlan/k3sync-cold-2   	       1	2000000000 ns/op	      1500 cpu-ms/op	       40.00 reads/op	500 server-cpu-ms/op	2000 total-cpu-ms/op
BenchmarkKubernetesNoopPlan/kubectl-diff-2  	       1	80000000000 ns/op	     30000 cpu-ms/op	30000 server-cpu-ms/op	60000 total-cpu-ms/op
PASS
ok  	github.com/k3sync/k3sync/internal/benchcompare	200.1s
pkg: github.com/k3sync/k3sync/internal/target/kafka
BenchmarkPlanNoop1000Tenants/kfake-2   	       3	  90000000 ns/op	        12.00 requests/plan	         4.000 roundtrips/plan	    300000 bytes/plan
`

func TestTable(t *testing.T) {
	results, env, err := Parse(strings.NewReader(output))
	if err != nil {
		t.Fatal(err)
	}
	if env.CPU != "Intel(R) Xeon(R) Processor" {
		t.Errorf("cpu: %q", env.CPU)
	}
	var b strings.Builder
	if err := Write(&b, Table(results, Comparisons)); err != nil {
		t.Fatal(err)
	}
	want := `| Compared | k3sync | Peer tool | Peer | Ratio (peer / k3sync) | Target | Met |
|---|---:|---|---:|---:|---:|---|
| Kubernetes no-op plan, wall time, k3sync daemon (warm target) | 500.0 ms | kubectl diff --server-side | 80.0 s | 160.0× | ≥ 50× | yes |
| Kubernetes no-op plan, wall time, k3sync cold (new target, as a CLI run) | 2.00 s | kubectl diff --server-side | 80.0 s | 40.0× | ≥ 50× | MISSED |
| Kubernetes no-op plan, CPU (client + apiserver + etcd), k3sync daemon | 400 ms CPU | kubectl diff --server-side | 60.0 s CPU | 150.0× | — | — |
| Kubernetes no-op plan, CPU (client + apiserver + etcd), k3sync cold | 2000 ms CPU | kubectl diff --server-side | 60.0 s CPU | 30.0× | — | — |
| Kong no-op plan, wall time, k3sync daemon (memo primed) | 20.0 ms | deck diff | 1.00 s | 50.0× | ≥ 5× | yes |
| Kong no-op plan, wall time, k3sync cold (new target, every tenant diffed) | 400.0 ms | deck diff | 1.00 s | 2.5× | ≥ 5× | MISSED |
| Kong no-op plan, CPU (client + emulator), k3sync daemon | 16 ms CPU | deck diff | 2000 ms CPU | 122.0× | — | — |
| Kong no-op plan, CPU (client + emulator), k3sync cold | 900 ms CPU | deck diff | 2000 ms CPU | 2.2× | — | — |
| Kong no-op plan, Admin API requests, k3sync cold | 34 requests | deck diff | 36 requests | 1.1× | — | — |
| Kafka no-op plan, 1,000 tenants, real broker: wall time | not run | — | — | — | — | — |
| Kafka no-op plan, 1,000 tenants, real broker: requests | not run | — | — | — | — | — |
| Kafka no-op plan, 1,000 tenants, real broker: round trips | not run | — | — | — | — | — |
| Kafka no-op plan, 1,000 tenants, real broker: bytes on the wire | not run | — | — | — | — | — |
| Kafka no-op plan, 1,000 tenants, kfake: wall time | 90.0 ms | — | — | — | — | — |
| Kafka no-op plan, 1,000 tenants, kfake: round trips | 4 round trips | — | — | — | — | — |
| Kafka no-op plan, 1,000 tenants, kfake: bytes on the wire | 293.0 KiB | — | — | — | — | — |
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

// TestTableMissingPeer: a peer benchmark that did not run leaves the
// ratio and the verdict empty and marks the row missing.
func TestTableMissingPeer(t *testing.T) {
	results, _, err := Parse(strings.NewReader("pkg: github.com/k3sync/k3sync/internal/benchcompare\nBenchmarkKongNoopPlan/k3sync-2 3 20000000 ns/op\n"))
	if err != nil {
		t.Fatal(err)
	}
	rows := Table(results, Comparisons[4:5])
	want := []Row{{What: Comparisons[4].What, PeerTool: "deck diff", K3sync: "20.0 ms", Peer: "not run", Target: "≥ 5×", Missing: true}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestParseRejectsBadValue(t *testing.T) {
	if _, _, err := Parse(strings.NewReader("BenchmarkX-2 1 abc ns/op\n")); err == nil {
		t.Error("a result with a value that is not a number parsed")
	}
}
