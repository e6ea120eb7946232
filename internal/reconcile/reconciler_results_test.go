package reconcile

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/plan"
)

// Each tenant's run gets its own results, in the apply's order, whether
// or not the apply's results come tenant by tenant; a run's results
// cannot reach into another's.
func TestResultsByTenant(t *testing.T) {
	res := func(tenant, name string) plan.Result {
		return plan.Result{Change: plan.Change{Key: plan.Key{Tenant: tenant, System: plan.Kubernetes, Target: "eu-west", Kind: "Namespace", Name: name}, Action: plan.Create}}
	}
	for _, tc := range []struct {
		name string
		in   []plan.Result
	}{
		{"tenant by tenant", []plan.Result{res("a", "1"), res("a", "2"), res("b", "1"), res("c", "1"), res("c", "2")}},
		{"interleaved", []plan.Result{res("a", "1"), res("c", "1"), res("b", "1"), res("a", "2"), res("c", "2")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := map[string][]plan.Result{}
			for _, r := range tc.in {
				want[r.Tenant] = append(want[r.Tenant], r)
			}
			got := resultsByTenant(tc.in)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("results by tenant (-want +got):\n%s", diff)
			}
			a := got["a"]
			_ = append(a, res("a", "3"))
			if diff := cmp.Diff(want["b"], got["b"]); diff != "" {
				t.Errorf("appending to a's results changed b's (-want +got):\n%s", diff)
			}
		})
	}
}
