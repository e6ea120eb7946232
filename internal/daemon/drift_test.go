package daemon

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// TestDriftPolicyMeansTheSameOnEverySystem: checkout's drift policy is
// report. A scheduled check reports its drift on Kubernetes, Kafka and
// Kong and writes nothing; an operator's manual sync of checkout takes
// every drifted field back on every system, Kubernetes included (where a
// field another manager took is taken back, not a conflict), and the
// run is synced.
func TestDriftPolicyMeansTheSameOnEverySystem(t *testing.T) {
	p, d := startDaemon(t)
	ctx := t.Context()
	rec := d.Reconciler
	rec.PollOnce(ctx)

	cs := p.clusters["eu-west"]
	rq, err := cs.CoreV1().ResourceQuotas("checkout").Get(ctx, render.QuotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rq.Spec.Hard[corev1.ResourceRequestsCPU] = resource.MustParse("1")
	if _, err := cs.CoreV1().ResourceQuotas("checkout").Update(ctx, rq, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(mustKgo(t, p.kafka.ListenAddrs()))
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("1000")}}, "checkout.orders"); err != nil {
		t.Fatal(err)
	}
	patchKong(t, p.kongURL+"/routes/checkout-web", `{"paths":["/checkout/hijacked"]}`)

	quota := func() string {
		rq, err := cs.CoreV1().ResourceQuotas("checkout").Get(ctx, render.QuotaName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		q := rq.Spec.Hard[corev1.ResourceRequestsCPU]
		return q.String()
	}
	retention := func() string {
		rc, err := adm.DescribeTopicConfigs(ctx, "checkout.orders")
		if err != nil {
			t.Fatal(err)
		}
		v, _ := rc.On("checkout.orders", nil)
		for _, c := range v.Configs {
			if c.Key == "retention.ms" {
				return c.MaybeValue()
			}
		}
		return ""
	}
	route := func() string { return getKong(t, p.kongURL+"/routes/checkout-web") }

	// The scheduled check reports, on all three systems, and writes nothing.
	k0, ka0, ko0 := p.writes(d)
	rec.CheckDrift(ctx, "")
	drift, err := rec.Drift(ctx)
	if err != nil {
		t.Fatal(err)
	}
	systems := map[plan.System]bool{}
	for _, dr := range drift {
		if dr.Tenant == "checkout" {
			for _, it := range dr.Items {
				systems[it.System] = true
			}
		}
	}
	if !systems[plan.Kubernetes] || !systems[plan.Kafka] || !systems[plan.Kong] {
		t.Errorf("checkout's drift report covers %v, want kubernetes, kafka and kong", systems)
	}
	if k, ka, ko := p.writes(d); k != k0 || ka != ka0 || ko != ko0 {
		t.Errorf("a scheduled check of a report tenant wrote: kubernetes %d, kafka %d, kong %d", k-k0, ka-ka0, ko-ko0)
	}
	if quota() != "1" || retention() != "1000" || !strings.Contains(route(), "/checkout/hijacked") {
		t.Fatalf("the check changed live state: quota %s, retention %s, route %s", quota(), retention(), route())
	}

	// The operator's manual sync applies Git on every system.
	s := manualSync(t, rec, view.TriggerRequest{Tenant: "checkout", Who: "operator"})
	if len(s.Runs) != 1 || s.Runs[0].Result != state.ResultSynced {
		t.Fatalf("manual sync of checkout: %+v", s.Runs)
	}
	for _, r := range s.Runs[0].Changes {
		if r.Err != nil || r.Error != "" {
			t.Errorf("%s: %s", r.Key, r.Error)
		}
	}
	if got := quota(); got != "6" {
		t.Errorf("quota requests.cpu after the manual sync: %s, want Git's 6", got)
	}
	if got := retention(); got != "259200000" {
		t.Errorf("retention.ms after the manual sync: %s, want Git's 259200000", got)
	}
	if r := route(); strings.Contains(r, "hijacked") || !strings.Contains(r, `"/checkout"`) {
		t.Errorf("kong route after the manual sync: %s", r)
	}
	rec.CheckDrift(ctx, "")
	o, err := rec.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := states(o)["checkout"]; got != view.Synced {
		t.Errorf("checkout after the manual sync and a check: %s, want synced", got)
	}
}
