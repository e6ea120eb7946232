package kubernetes

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// TestAdopt: a tenant that adopts what exists (policies.adopt) takes its
// namespace and the quota made out of band into its inventory instead
// of being blocked: the plan says adopt, with the fields Git changes; the
// apply keeps the very objects (same UIDs), marks them as k3sync's and
// sets Git's values; the next plan is empty. An object labelled for
// another tenant is not adopted.
func TestAdopt(t *testing.T) {
	tg, cs, store := oneCluster(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Labels: map[string]string{"owner": "team-x"}}}
	ns, err := cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rq := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: render.QuotaName, Namespace: "payments"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}},
	}
	if rq, err = cs.CoreV1().ResourceQuotas("payments").Create(t.Context(), rq, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// payments-batch was made by hand for checkout, as its label says.
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments-batch", Labels: map[string]string{render.LabelTenant: "checkout"}}}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	r := repo(t, nil)
	r.Tenant("payments").Policies.Adopt = true
	req := request(r)
	changes, err := tg.Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	key := func(kind, namespace, name string) plan.Key {
		return plan.Key{Tenant: "payments", System: plan.Kubernetes, Target: "eu-west", Kind: kind, Namespace: namespace, Name: name}
	}
	nsKey, rqKey, batchKey := key("Namespace", "", "payments"), key("ResourceQuota", "payments", render.QuotaName), key("Namespace", "", "payments-batch")
	byKey := map[plan.Key]plan.Change{}
	for _, c := range changes {
		byKey[c.Key] = c
	}
	if c := byKey[nsKey]; c.Action != plan.Adopt || !hasField(c, "metadata.labels") {
		t.Errorf("namespace payments: %s %+v, want adopt with its labels", c.Action, c.Fields)
	}
	if c := byKey[rqKey]; c.Action != plan.Adopt || !hasField(c, "spec.hard.pods") {
		t.Errorf("quota in payments: %s %+v, want adopt setting spec.hard", c.Action, c.Fields)
	}
	if c := byKey[batchKey]; c.Action != plan.Blocked || !strings.Contains(strings.Join(c.Notes, " "), "not adopted: labelled for tenant checkout") {
		t.Errorf("namespace payments-batch, labelled for checkout: %s %q, want blocked, not adopted", c.Action, c.Notes)
	}
	for _, c := range changes {
		if c.Namespace == "payments" && c.Key != rqKey && c.Action != plan.Create {
			t.Errorf("%s in the adopted namespace: %s, want create", c.Key, c.Action)
		}
	}

	results, err := tg.Apply(t.Context(), req, plan.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range results {
		if res.Err != nil && res.Key != batchKey && !strings.HasPrefix(res.Namespace, "payments-batch") {
			t.Errorf("%s: %v", res.Key, res.Err)
		}
	}
	gotNS, err := cs.CoreV1().Namespaces().Get(t.Context(), "payments", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if gotNS.UID != ns.UID || gotNS.Labels[render.LabelTenant] != "payments" || gotNS.Labels["owner"] != "team-x" {
		t.Errorf("adopted namespace: UID %s (was %s), labels %v", gotNS.UID, ns.UID, gotNS.Labels)
	}
	gotRQ, err := cs.CoreV1().ResourceQuotas("payments").Get(t.Context(), render.QuotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pods := gotRQ.Spec.Hard[corev1.ResourcePods]; gotRQ.UID != rq.UID || pods.String() == "3" {
		t.Errorf("adopted quota: UID %s (was %s), pods %s, want Git's", gotRQ.UID, rq.UID, pods.String())
	}
	entry, err := store.Load(t.Context(), "payments", tg.stateTarget())
	if err != nil {
		t.Fatal(err)
	}
	if la := decodeLastApplied(entry.Resources[objectID("Namespace", "", "payments")]); la.UID != ns.UID {
		t.Errorf("inventory of the adopted namespace: UID %q, want %q", la.UID, ns.UID)
	}
	if _, ok := entry.Resources[objectID("Namespace", "", "payments-batch")]; ok {
		t.Error("the inventory records payments-batch, labelled for checkout")
	}
	again, err := tg.Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range again {
		if c.Key != batchKey && c.Namespace != "payments-batch" {
			t.Errorf("plan after adopting: %s %s", c.Action, c.Key)
		}
	}
}

func hasField(c plan.Change, prefix string) bool {
	for _, f := range c.Fields {
		if strings.HasPrefix(f.Path, prefix) {
			return true
		}
	}
	return false
}
