package kubernetes

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/k3sync/k3sync/internal/render"
)

// TestLocalPlanAgreesWithServerDryRun computes every object's change
// locally and through a server-side dry-run apply on a real apiserver,
// and requires both to change exactly the same fields: after out-of-band
// edits by other managers and changes in Git, on server defaults,
// quantities in other units, atomic lists and fields owned by others.
func TestLocalPlanAgreesWithServerDryRun(t *testing.T) {
	e := newEnv(t)
	e.apply(t, request(repo(t, nil)))
	ctx := t.Context()
	cs := e.clients["eu-west"]

	// Out-of-band edits, each by another field manager.
	rq, err := cs.CoreV1().ResourceQuotas("payments").Get(ctx, render.QuotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rq.Spec.Hard[corev1.ResourceRequestsCPU] = resource.MustParse("3")
	rq.Spec.Hard[corev1.ResourceServices] = resource.MustParse("5") // a field only they own
	if _, err := cs.CoreV1().ResourceQuotas("payments").Update(ctx, rq, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, "payments", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels["cost-center"] = "cc-9999"     // drift on our label
	ns.Labels["istio-injection"] = "enabled" // someone else's label
	if _, err := cs.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{FieldManager: "platform-bot"}); err != nil {
		t.Fatal(err)
	}
	np, err := cs.NetworkingV1().NetworkPolicies("checkout").Get(ctx, render.NetworkPolicyName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
	if _, err := cs.NetworkingV1().NetworkPolicies("checkout").Update(ctx, np, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	rb, err := cs.RbacV1().RoleBindings("search").Get(ctx, render.RoleBindingName("search-sre", "admin"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rb.Subjects = append(rb.Subjects, rbacv1.Subject{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "mallory"})
	if _, err := cs.RbacV1().RoleBindings("search").Update(ctx, rb, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	lr, err := cs.CoreV1().LimitRanges("payments").Get(ctx, render.LimitRangeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lr.Spec.Limits[0].Max[corev1.ResourceCPU] = resource.MustParse("2")
	if _, err := cs.CoreV1().LimitRanges("payments").Update(ctx, lr, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}

	// Changes in Git: a quantity in other units (no change), a new label,
	// an annotation released, a new grant.
	r := repo(t, map[string][2]string{
		"payments": {`requests: {cpu: "8", memory: "16Gi"}`, `requests: {cpu: "8000m", memory: "16384Mi"}`},
		"search":   {`labels: tier: "batch"`, `labels: {tier: "batch", owner: "search-sre"}`},
		"checkout": {`access: [{group: "checkout-developers", role: "edit"}]`, `access: [{group: "checkout-developers", role: "edit"}, {group: "checkout-sre", role: "view"}]`},
	})
	delete(r.Tenant("payments").Kubernetes.Namespaces["payments-batch"].Annotations, "example.com/purpose")
	req := request(r)

	tg := e.targets["eu-west"]
	ts, err := tg.loadSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live, err := tg.readLive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := e.store.List(ctx, tg.stateTarget())
	if err != nil {
		t.Fatal(err)
	}
	lastOf := map[string]map[string]any{}
	for _, en := range entries {
		for id, raw := range en.Resources {
			lastOf[id] = decodeLastApplied(raw).Object
		}
	}

	changedObjects := 0
	for _, tr := range req.Tenants {
		for _, cr := range tr.Desired.Kubernetes {
			if cr.Cluster != "eu-west" {
				continue
			}
			for _, d := range cr.Objects {
				id := idOf(d)
				l, ok := live[id]
				if !ok {
					// New objects: both sides create them.
					continue
				}
				var local []string
				diff, err := ts.diff(d, l, lastOf[id])
				if err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				if diff != nil {
					for _, f := range diff.fields {
						local = append(local, f.Path)
					}
					changedObjects++
				}
				server := serverDryRun(t, tg, ts, d, l)
				slices.Sort(local)
				if len(local) > 0 {
					t.Logf("%s: %v", id, local)
				}
				if d := cmp.Diff(server, local); d != "" {
					t.Errorf("%s: local plan and server dry run disagree on changed fields (-server +local):\n%s", id, d)
				}
			}
		}
	}
	if changedObjects < 6 {
		t.Errorf("only %d objects changed: the test's edits did not take", changedObjects)
	}
}

// serverDryRun applies d with a server-side dry run and returns the
// fields that would change.
func serverDryRun(t *testing.T, tg *Target, ts *typeSchema, d, live *unstructured.Unstructured) []string {
	t.Helper()
	k, _, _ := kindByName(d.GetKind())
	ri := tg.dyn.Resource(k.GVR())
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}}
	var out *unstructured.Unstructured
	var err error
	if k.Namespaced {
		out, err = ri.Namespace(d.GetNamespace()).Apply(t.Context(), d.GetName(), d, opts)
	} else {
		out, err = ri.Apply(t.Context(), d.GetName(), d, opts)
	}
	if err != nil {
		t.Fatalf("dry run %s: %v", idOf(d), err)
	}
	a, err := ts.converter.ObjectToTyped(stripServerFields(live))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ts.converter.ObjectToTyped(stripServerFields(out))
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Compare(b)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	c.Added.Leaves().Union(c.Modified).Union(c.Removed.Leaves()).Iterate(func(p fieldpath.Path) {
		paths = append(paths, formatPath(p))
	})
	slices.Sort(paths)
	return paths
}

// stripServerFields drops what the server changes on every write.
func stripServerFields(u *unstructured.Unstructured) *unstructured.Unstructured {
	c := u.DeepCopy()
	c.SetManagedFields(nil)
	c.SetResourceVersion("")
	c.SetGeneration(0)
	return c
}
