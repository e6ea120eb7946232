package kubernetes

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// oneCluster is a target on one real cluster, eu-west, and a client.
func oneCluster(t *testing.T) (*Target, kubernetes.Interface, *state.Memory) {
	t.Helper()
	cp := kube.StartT(t, 1)[0]
	store := state.NewMemory()
	tg, err := New("eu-west", config.Cluster{Kubeconfig: cp.KubeconfigPath(), QPS: 100, Burst: 200}, store)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return tg, cs, store
}

// withoutTenant is r without the named tenant: removed from Git.
func withoutTenant(r *model.Repo, name string) *model.Repo {
	out := *r
	out.Tenants = slices.DeleteFunc(slices.Clone(r.Tenants), func(tn *model.Tenant) bool { return tn.Name == name })
	return &out
}

// TestNamespaceNotOwnedIsBlocked: a namespace someone else made is never
// taken over: the tenant's plan blocks it and everything of the tenant in
// it, the apply leaves it as it was and creates nothing inside it, and
// removing it from Git, deletion allowed, deletes nothing of it.
func TestNamespaceNotOwnedIsBlocked(t *testing.T) {
	tg, cs, store := oneCluster(t)
	theirs := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        "payments",
		Labels:      map[string]string{"owner": "team-x"},
		Annotations: map[string]string{"example.com/owner": "team-x"},
	}}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := repo(t, map[string][2]string{"payments": {`labels: "cost-center": "cc-1001"`, `labels: "cost-center": "cc-1001"
			deletion: "allow"`}})
	req := request(r)

	changes, err := tg.Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	nsKey := plan.Key{Tenant: "payments", System: plan.Kubernetes, Target: "eu-west", Kind: "Namespace", Name: "payments"}
	var blocked []plan.Key
	inside := 0
	for _, c := range changes {
		switch {
		case c.Key == nsKey:
			blocked = append(blocked, c.Key)
			if diff := cmp.Diff(plan.NotOwned(nsKey, 0, "made outside k3sync"), c); diff != "" {
				t.Errorf("foreign namespace (-want +got):\n%s", diff)
			}
		case c.Namespace == "payments":
			blocked = append(blocked, c.Key)
			inside++
			if diff := cmp.Diff(plan.InsideNotOwned(c.Key, c.Level, nsKey), c); diff != "" {
				t.Errorf("object in the foreign namespace (-want +got):\n%s", diff)
			}
		case c.Action != plan.Create:
			t.Errorf("%s %s: only the foreign namespace and what is in it are blocked", c.Action, c.Key)
		}
	}
	// ServiceAccount, quota, limit range, 4 role bindings, network policy.
	if inside < 6 || len(blocked) == len(changes) {
		t.Fatalf("want the namespace and its %d objects blocked and the rest created, got:\n%s", inside, summary(changes))
	}

	results, err := tg.Apply(t.Context(), req, plan.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range results {
		switch {
		case slices.Contains(blocked, res.Key):
			if !errors.Is(res.Err, plan.ErrBlocked) {
				t.Errorf("%s: %v, want blocked", res.Key, res.Err)
			}
		case res.Err != nil:
			t.Errorf("%s: %v", res.Key, res.Err)
		}
	}
	checkUntouched := func(when string) {
		t.Helper()
		ns, err := cs.CoreV1().Namespaces().Get(t.Context(), "payments", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: foreign namespace: %v", when, err)
		}
		if ns.DeletionTimestamp != nil {
			t.Errorf("%s: foreign namespace is being deleted", when)
		}
		wantLabels := map[string]string{"owner": "team-x", corev1.LabelMetadataName: "payments"}
		if diff := cmp.Diff(wantLabels, ns.Labels); diff != "" {
			t.Errorf("%s: foreign namespace's labels (-want +got):\n%s", when, diff)
		}
		if diff := cmp.Diff(theirs.Annotations, ns.Annotations); diff != "" {
			t.Errorf("%s: foreign namespace's annotations (-want +got):\n%s", when, diff)
		}
		for _, m := range ns.ManagedFields {
			if m.Manager == FieldManager {
				t.Errorf("%s: k3sync manages fields of the foreign namespace", when)
			}
		}
		sas, err := cs.CoreV1().ServiceAccounts("payments").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, sa := range sas.Items {
			if sa.Name != "default" {
				t.Errorf("%s: service account %s created in the foreign namespace", when, sa.Name)
			}
		}
		rbs, err := cs.RbacV1().RoleBindings("payments").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rqs, err := cs.CoreV1().ResourceQuotas("payments").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rbs.Items)+len(rqs.Items) != 0 {
			t.Errorf("%s: %d role bindings and %d quotas created in the foreign namespace", when, len(rbs.Items), len(rqs.Items))
		}
	}
	checkUntouched("after apply")
	if _, err := cs.CoreV1().Namespaces().Get(t.Context(), "payments-batch", metav1.GetOptions{}); err != nil {
		t.Errorf("the tenant's own namespace was not created: %v", err)
	}
	entry, err := store.Load(t.Context(), "payments", tg.stateTarget())
	if err != nil {
		t.Fatal(err)
	}
	for id := range entry.Resources {
		if _, ns, name := splitID(id); ns == "payments" || strings.HasPrefix(id, "Namespace/") && name == "payments" {
			t.Errorf("the inventory records %s", id)
		}
	}

	// An object made out of band in the tenant's own namespace, with a
	// name Git then asks for, is not taken over either, nor deleted once
	// Git drops it.
	grant := `{group: "auditors", role: "view"},`
	r2 := repo(t, map[string][2]string{"payments": {grant, grant + ` {group: "payments-sre", role: "admin", namespaces: ["payments-batch"]},`}})
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "k3sync:admin:payments-sre", Namespace: "payments-batch"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "someone-else"}},
	}
	if _, err := cs.RbacV1().RoleBindings("payments-batch").Create(t.Context(), rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rbKey := plan.Key{Tenant: "payments", System: plan.Kubernetes, Target: "eu-west", Kind: "RoleBinding", Namespace: "payments-batch", Name: rb.Name}
	changes, err = tg.Plan(t.Context(), request(r2))
	if err != nil {
		t.Fatal(err)
	}
	_, rbLevel, _ := kindByName("RoleBinding")
	if i := slices.IndexFunc(changes, func(c plan.Change) bool { return c.Key == rbKey }); i < 0 {
		t.Errorf("no change for the foreign role binding:\n%s", summary(changes))
	} else if diff := cmp.Diff(plan.NotOwned(rbKey, rbLevel, "made outside k3sync"), changes[i]); diff != "" {
		t.Errorf("foreign role binding (-want +got):\n%s", diff)
	}
	if _, err := tg.Apply(t.Context(), request(r2), plan.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	checkRB := func(when string) {
		t.Helper()
		got, err := cs.RbacV1().RoleBindings("payments-batch").Get(t.Context(), rb.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: foreign role binding: %v", when, err)
		}
		if diff := cmp.Diff(rb.Subjects, got.Subjects); diff != "" || got.Labels != nil {
			t.Errorf("%s: foreign role binding changed: labels %v, subjects (-want +got):\n%s", when, got.Labels, diff)
		}
	}
	checkRB("after apply")
	changes, err = tg.Plan(t.Context(), req) // the grant leaves Git
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Key.Kind == "RoleBinding" && c.Key.Name == rb.Name {
			t.Errorf("grant removed from Git: %s %s", c.Action, c.Key)
		}
	}
	if _, err := tg.Apply(t.Context(), req, plan.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	checkRB("once removed from Git")

	// The tenant leaves Git: what k3sync made goes, nothing of the
	// foreign namespace does.
	gone := request(withoutTenant(r, "payments"))
	gone.AllowMassDeletion = true
	changes, err = tg.Plan(t.Context(), gone)
	if err != nil {
		t.Fatal(err)
	}
	deletes := 0
	for _, c := range changes {
		if c.Tenant != "payments" {
			continue
		}
		if c.Namespace == "payments" || c.Key == nsKey {
			t.Errorf("tenant removed: %s %s", c.Action, c.Key)
		}
		if c.Action == plan.Delete {
			deletes++
		}
	}
	if deletes == 0 {
		t.Errorf("tenant removed: nothing of what k3sync made is deleted:\n%s", summary(changes))
	}
	if _, err := tg.Apply(t.Context(), gone, plan.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	checkUntouched("once the tenant left Git")
}

// TestReplacedObjectIsNotOwned: an object k3sync applied, deleted and made
// again by someone else, is another object (another UID): the plan blocks
// it instead of taking it over and, once Git drops it, does not delete it.
func TestReplacedObjectIsNotOwned(t *testing.T) {
	tg, cs, _ := oneCluster(t)
	r := repo(t, nil)
	if _, err := tg.Apply(t.Context(), request(r), plan.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	const ns, name = "payments", "k3sync:view:auditors"
	old, err := cs.RbacV1().RoleBindings(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.RbacV1().RoleBindings(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Same name and labels, someone else's subjects.
	mine := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: old.Labels},
		RoleRef:    old.RoleRef,
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "intruders"}},
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(t.Context(), mine, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	key := plan.Key{Tenant: "payments", System: plan.Kubernetes, Target: "eu-west", Kind: "RoleBinding", Namespace: ns, Name: name}
	changes, err := tg.Plan(t.Context(), request(r))
	if err != nil {
		t.Fatal(err)
	}
	_, level, _ := kindByName("RoleBinding")
	want := plan.NotOwned(key, level, "another object than the one k3sync applied: deleted and made again outside k3sync")
	if i := slices.IndexFunc(changes, func(c plan.Change) bool { return c.Key == key }); i < 0 {
		t.Fatalf("no change for the replaced object:\n%s", summary(changes))
	} else if diff := cmp.Diff(want, changes[i]); diff != "" {
		t.Errorf("replaced object (-want +got):\n%s", diff)
	}
	if _, err := tg.Apply(t.Context(), request(r), plan.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// The auditors' grant leaves Git: nothing is deleted.
	after := repo(t, map[string][2]string{"payments": {`{group: "auditors", role: "view"},`, ``}})
	changes, err = tg.Plan(t.Context(), request(after))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Key == key {
			t.Errorf("grant removed from Git: %s %s", c.Action, c.Key)
		}
	}
	if _, err := tg.Apply(t.Context(), request(after), plan.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cs.RbacV1().RoleBindings(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the replaced object was deleted: %v", err)
	}
	if diff := cmp.Diff(mine.Subjects, got.Subjects); diff != "" {
		t.Errorf("the replaced object was changed (-want +got):\n%s", diff)
	}
}
