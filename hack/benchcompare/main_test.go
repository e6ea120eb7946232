package main

import (
	"strings"
	"testing"
)

// TestRunNamesMissingBenchmarks: the table is printed from what ran, and
// the command fails naming the rows that have no figures.
func TestRunNamesMissingBenchmarks(t *testing.T) {
	in := strings.NewReader(`pkg: github.com/k3sync/k3sync/internal/benchcompare
cpu: Test CPU
BenchmarkKongNoopPlan/k3sync-2   3   20000000 ns/op   16 cpu-ms/op   34 reads/op
BenchmarkKongNoopPlan/deck-diff-2   3   1000000000 ns/op   2000 cpu-ms/op   36 reads/op
`)
	var out strings.Builder
	err := run(nil, in, &out)
	if err == nil || !strings.Contains(err.Error(), "Kubernetes no-op plan, wall time") || strings.Contains(err.Error(), "Kong no-op plan, wall time, k3sync daemon") {
		t.Errorf("error: %v; want the Kubernetes rows named, not the Kong daemon row", err)
	}
	for _, want := range []string{"on Test CPU (load average", "| Kong no-op plan, wall time, k3sync daemon (memo primed) | 20.0 ms | deck diff | 1.00 s | 50.0× | ≥ 5× | yes |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
