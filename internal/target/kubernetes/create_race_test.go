package kubernetes

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// platformLimits and platformSRE are what a namespace-setup controller
// (Kyverno generate, Capsule) places in every new namespace.
func platformLimits() *corev1.LimitRange {
	return &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "platform-limits", Namespace: "payments"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
			Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}},
	}
}

func platformQuota() *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-quota", Namespace: "payments"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("100")}},
	}
}

func platformSRE() *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "platform-sre", Namespace: "payments"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "platform-sre"}},
	}
}

// TestCreateDoesNotTakeOverWhatAppearsFirst: a tenant names its LimitRange
// and an access grant like the objects a namespace-setup controller places
// in every new namespace. The plan, made before the namespace exists, says
// create; the controller fills the namespace as soon as k3sync makes it.
// k3sync's creates must leave the platform's objects as they are, own
// neither, and plan them blocked from then on.
func TestCreateDoesNotTakeOverWhatAppearsFirst(t *testing.T) {
	cp := kube.StartT(t, 1)[0]
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	rc := rest.CopyConfig(cp.RESTConfig())
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil && r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/api/v1/namespaces/payments") {
				if _, err := cs.CoreV1().LimitRanges("payments").Create(r.Context(), platformLimits(), metav1.CreateOptions{}); err != nil {
					t.Errorf("controller: %v", err)
				}
				if _, err := cs.RbacV1().RoleBindings("payments").Create(r.Context(), platformSRE(), metav1.CreateOptions{}); err != nil {
					t.Errorf("controller: %v", err)
				}
				// Agrees with the tenant's quota where both set a field:
				// k3sync's create conflicts with nothing.
				if _, err := cs.CoreV1().ResourceQuotas("payments").Create(r.Context(), platformQuota(), metav1.CreateOptions{}); err != nil {
					t.Errorf("controller: %v", err)
				}
			}
			return resp, err
		})
	})
	store := state.NewMemory()
	tg, err := NewForConfig("eu-west", rc, store)
	if err != nil {
		t.Fatal(err)
	}
	r := repo(t, map[string][2]string{"payments": {
		`{group: "payments-oncall", role: "admin", namespaces: ["payments"]}`,
		`{group: "payments-oncall", role: "admin", namespaces: ["payments"], name: "platform-sre"}`,
	}})
	r = withLimitRangeName(t, r, "payments", "platform-limits")
	results, _ := tg.Apply(t.Context(), request(r), plan.ApplyOptions{})
	taken := map[string]bool{"LimitRange/payments/platform-limits": true, "RoleBinding/payments/platform-sre": true, "ResourceQuota/payments/tenant-quota": true}
	for _, res := range results {
		id := objectID(res.Kind, res.Namespace, res.Name)
		if taken[id] && res.Err == nil {
			t.Errorf("%s: %s succeeded; want it refused: the controller made it first", id, res.Action)
		}
	}
	lr, err := cs.CoreV1().LimitRanges("payments").Get(t.Context(), "platform-limits", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mx := lr.Spec.Limits[0].Max[corev1.ResourceCPU]; mx.String() != "1" || len(lr.Spec.Limits) != 1 {
		t.Errorf("the platform's LimitRange after k3sync's create: %+v; want max cpu 1 as the controller made it", lr.Spec.Limits)
	}
	// Nothing of k3sync's is left on them: no labels, no managed fields.
	for _, m := range []metav1.ObjectMeta{lr.ObjectMeta} {
		if len(m.Labels) != 0 {
			t.Errorf("%s after k3sync's refused create has labels %v; want none", m.Name, m.Labels)
		}
		for _, mf := range m.ManagedFields {
			if mf.Manager == FieldManager {
				t.Errorf("%s after k3sync's refused create: k3sync still manages %s", m.Name, mf.FieldsV1)
			}
		}
	}
	rb, err := cs.RbacV1().RoleBindings("payments").Get(t.Context(), "platform-sre", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rb.Subjects) != 1 || rb.Subjects[0].Name != "platform-sre" {
		t.Errorf("the platform's RoleBinding after k3sync's create binds %+v; want group platform-sre only", rb.Subjects)
	}
	if len(rb.Labels) != 0 {
		t.Errorf("the platform's RoleBinding after k3sync's refused create has labels %v; want none", rb.Labels)
	}
	// The quota k3sync's apply could write to: what it added is taken back.
	rq, err := cs.CoreV1().ResourceQuotas("payments").Get(t.Context(), "tenant-quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rq.Spec.Hard) != 1 || len(rq.Labels) != 0 {
		t.Errorf("the platform's ResourceQuota after k3sync's refused create: hard %v, labels %v; want pods only, no labels", rq.Spec.Hard, rq.Labels)
	}
	for _, mf := range rq.ManagedFields {
		if mf.Manager == FieldManager {
			t.Errorf("the platform's ResourceQuota after k3sync's refused create: k3sync still manages %s", mf.FieldsV1)
		}
	}
	entry, err := store.Load(t.Context(), "payments", tg.stateTarget())
	if err != nil {
		t.Fatal(err)
	}
	for id := range taken {
		if raw, ok := entry.Resources[id]; ok {
			t.Errorf("inventory owns %s (%s); want it not owned", id, raw)
		}
	}
	changes, err := tg.Plan(t.Context(), request(r))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if taken[objectID(c.Kind, c.Namespace, c.Name)] && c.Action != plan.Blocked {
			t.Errorf("next plan: %s %s; want blocked (exists, not owned)", c.Action, c.Key)
		}
	}
}

// TestRefusedCreateOwnsNothing: a create the apiserver refuses leaves
// nothing in the inventory, so a LimitRange the platform team places
// under that name later is not the tenant's: blocked, never overwritten.
func TestRefusedCreateOwnsNothing(t *testing.T) {
	tg, cs, store := oneCluster(t)
	// A default above the max: the loader takes it, the apiserver not.
	bad := repo(t, map[string][2]string{"payments": {`default: {cpu: "500m", memory: "512Mi"}`, `default: {cpu: "64", memory: "512Mi"}`}})
	bad = withLimitRangeName(t, bad, "payments", "platform-limits")
	results, _ := tg.Apply(t.Context(), request(bad), plan.ApplyOptions{})
	refused := false
	for _, res := range results {
		if res.Kind == "LimitRange" && res.Name == "platform-limits" {
			refused = res.Err != nil
		}
	}
	if !refused {
		t.Fatal("the apiserver took a LimitRange whose default is above its max; the test needs a refused create")
	}
	entry, err := store.Load(t.Context(), "payments", tg.stateTarget())
	if err != nil {
		t.Fatal(err)
	}
	if raw, ok := entry.Resources["LimitRange/payments/platform-limits"]; ok {
		t.Errorf("inventory after the refused create: %s; want no entry", raw)
	}
	if _, err := cs.CoreV1().LimitRanges("payments").Create(t.Context(), platformLimits(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	good := withLimitRangeName(t, repo(t, nil), "payments", "platform-limits")
	results, _ = tg.Apply(t.Context(), request(good), plan.ApplyOptions{})
	for _, res := range results {
		if res.Kind == "LimitRange" && res.Name == "platform-limits" && !errors.Is(res.Err, plan.ErrBlocked) {
			t.Errorf("apply of the fixed LimitRange: %s, error %v; want blocked (exists, not owned)", res.Action, res.Err)
		}
	}
	lr, err := cs.CoreV1().LimitRanges("payments").Get(t.Context(), "platform-limits", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mx := lr.Spec.Limits[0].Max[corev1.ResourceCPU]; mx.String() != "1" {
		t.Errorf("the platform's LimitRange max cpu is %s after the tenant's apply; want 1", mx.String())
	}
}

// withLimitRangeName names the LimitRange of the tenant's namespace of
// its own name.
func withLimitRangeName(t *testing.T, r *model.Repo, tenant, name string) *model.Repo {
	t.Helper()
	ns := r.Tenant(tenant).Kubernetes.Namespaces[tenant]
	if ns == nil || ns.LimitRange == nil {
		t.Fatalf("tenant %s has no LimitRange in namespace %s", tenant, tenant)
	}
	ns.LimitRange.Name = name
	return r
}

// TestUpdateDoesNotLandOnAReplacedObject: between k3sync's plan of an
// update and its apply, someone deletes the tenant's ResourceQuota and
// makes another of that name. The forced apply must not land on it: the
// update fails, the new object is left as its writer made it, and the
// next plan does not take it for the tenant's.
func TestUpdateDoesNotLandOnAReplacedObject(t *testing.T) {
	cp := kube.StartT(t, 1)[0]
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	var replaced atomic.Bool
	rc := rest.CopyConfig(cp.RESTConfig())
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/namespaces/payments/resourcequotas/tenant-quota") && replaced.CompareAndSwap(false, true) {
				if err := cs.CoreV1().ResourceQuotas("payments").Delete(r.Context(), "tenant-quota", metav1.DeleteOptions{}); err != nil {
					t.Errorf("someone: %v", err)
				}
				q := platformQuota()
				q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("5")
				if _, err := cs.CoreV1().ResourceQuotas("payments").Create(r.Context(), q, metav1.CreateOptions{}); err != nil {
					t.Errorf("someone: %v", err)
				}
			}
			return rt.RoundTrip(r)
		})
	})
	store := state.NewMemory()
	tg, err := NewForConfig("eu-west", rc, store)
	if err != nil {
		t.Fatal(err)
	}
	replaced.Store(true) // the first apply creates the quota
	if _, err := tg.Apply(t.Context(), request(repo(t, nil)), plan.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	replaced.Store(false)
	more := repo(t, map[string][2]string{"payments": {"pods: 100", "pods: 120"}})
	results, _ := tg.Apply(t.Context(), request(more), plan.ApplyOptions{})
	if !replaced.Load() {
		t.Fatal("the apply sent no update of the quota; the test needs one")
	}
	for _, res := range results {
		if res.Kind == "ResourceQuota" && res.Namespace == "payments" && !errors.Is(res.Err, ErrReplaced) {
			t.Errorf("update of the replaced quota: %s, error %v; want ErrReplaced", res.Action, res.Err)
		}
	}
	q, err := cs.CoreV1().ResourceQuotas("payments").Get(t.Context(), "tenant-quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pods := q.Spec.Hard[corev1.ResourcePods]; pods.String() != "5" || len(q.Labels) != 0 {
		t.Errorf("the replacing quota after k3sync's update: pods %s, labels %v; want 5 and none, as its writer made it", pods.String(), q.Labels)
	}
	changes, err := tg.Plan(t.Context(), request(more))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Kind == "ResourceQuota" && c.Namespace == "payments" && c.Action != plan.Blocked {
			t.Errorf("next plan: %s %s; want blocked (exists, not owned)", c.Action, c.Key)
		}
	}
}
