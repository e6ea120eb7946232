package kubernetes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

const exampleRepo = "../../../examples/platform-repo"

// env is two real clusters, eu-west and us-east, with a target each.
type env struct {
	targets map[string]*Target
	clients map[string]kubernetes.Interface
	store   *state.Memory
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cps := kube.StartT(t, 2)
	e := &env{targets: map[string]*Target{}, clients: map[string]kubernetes.Interface{}, store: state.NewMemory()}
	for i, name := range []string{"eu-west", "us-east"} {
		tg, err := New(name, config.Cluster{Kubeconfig: cps[i].KubeconfigPath(), QPS: 100, Burst: 200}, e.store)
		if err != nil {
			t.Fatal(err)
		}
		e.targets[name] = tg
		cs, err := kubernetes.NewForConfig(cps[i].RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		e.clients[name] = cs
	}
	return e
}

// repo loads a copy of the example repo, edited by edits (old → new in the
// tenant file of the named tenant).
func repo(t *testing.T, edits map[string][2]string) *model.Repo {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(exampleRepo)); err != nil {
		t.Fatal(err)
	}
	for tenant, e := range edits {
		p := filepath.Join(dir, "tenants", tenant, "tenant.cue")
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), e[0]) {
			t.Fatalf("edit of %s: %q not found", tenant, e[0])
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(src), e[0], e[1], 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := loader.Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func request(r *model.Repo) plan.Request {
	req := plan.Request{Platform: &r.Platform, Complete: true}
	for _, tn := range r.Tenants {
		req.Tenants = append(req.Tenants, plan.TenantRequest{Desired: render.TenantResources(&r.Platform, tn), Model: tn})
	}
	return req
}

func (e *env) apply(t *testing.T, req plan.Request) {
	t.Helper()
	for name, tg := range e.targets {
		results, err := tg.Apply(t.Context(), req, plan.ApplyOptions{})
		if err != nil {
			t.Fatalf("apply %s: %v", name, err)
		}
		for _, r := range results {
			if r.Err != nil {
				t.Errorf("apply %s: %v", r.Key, r.Err)
			}
		}
	}
}

func (e *env) plan(t *testing.T, req plan.Request) []plan.Change {
	t.Helper()
	var all []plan.Change
	for _, name := range []string{"eu-west", "us-east"} {
		cs, err := e.targets[name].Plan(t.Context(), req)
		if err != nil {
			t.Fatalf("plan %s: %v", name, err)
		}
		all = append(all, cs...)
	}
	return all
}

func summary(changes []plan.Change) string {
	var b strings.Builder
	for _, c := range changes {
		b.WriteString(string(c.Action) + " " + c.Key.String())
		if c.Drift {
			b.WriteString(" (drift)")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestApplyExampleThenNoopPlan(t *testing.T) {
	e := newEnv(t)
	req := request(repo(t, nil))
	first := e.plan(t, req)
	if n := len(first); n < 40 {
		t.Fatalf("first plan has %d changes, want every object created:\n%s", n, summary(first))
	}
	for _, c := range first {
		if c.Action != plan.Create {
			t.Fatalf("first plan: %s %s", c.Action, c.Key)
		}
	}
	e.apply(t, req)

	ns, err := e.clients["us-east"].CoreV1().Namespaces().Get(t.Context(), "payments", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels[render.LabelTenant] != "payments" || ns.Labels[render.LabelManagedBy] != "k3sync" {
		t.Errorf("namespace labels: %v", ns.Labels)
	}
	// The inventory has the resourceVersion the apply produced: the next
	// plan knows from it that nobody else wrote the object.
	entry, err := e.store.Load(t.Context(), "payments", e.targets["us-east"].stateTarget())
	if err != nil {
		t.Fatal(err)
	}
	if la := decodeLastApplied(entry.Resources[objectID("Namespace", "", "payments")]); la.ResourceVersion != ns.ResourceVersion {
		t.Errorf("inventory has resourceVersion %q for namespace payments, live has %q", la.ResourceVersion, ns.ResourceVersion)
	}
	rq, err := e.clients["eu-west"].CoreV1().ResourceQuotas("search-indexer").Get(t.Context(), render.QuotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rq.Spec.Hard[corev1.ResourceRequestsMemory]; got.String() != "4Gi" {
		t.Errorf("search-indexer memory quota: %s", got.String())
	}

	// A second plan finds nothing to do, sends no write and only one
	// list per kind per cluster: no per-object request.
	saves := e.store.Saves()
	for name, tg := range e.targets {
		reads, writes := tg.Stats().Reads.Load(), tg.Stats().Writes.Load()
		changes, err := tg.Plan(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) != 0 {
			t.Errorf("%s: second plan has changes:\n%s", name, summary(changes))
		}
		if got := tg.Stats().Reads.Load() - reads; got != int64(len(kinds)) {
			t.Errorf("%s: no-op plan sent %d reads, want %d (one list per kind)", name, got, len(kinds))
		}
		if got := tg.Stats().Writes.Load() - writes; got != 0 {
			t.Errorf("%s: no-op plan sent %d writes", name, got)
		}
		// A no-op apply writes nothing either.
		results, err := tg.Apply(t.Context(), req, plan.ApplyOptions{})
		if err != nil || len(results) != 0 {
			t.Errorf("%s: no-op apply: %v, %d results", name, err, len(results))
		}
		if got := tg.Stats().Writes.Load() - writes; got != 0 {
			t.Errorf("%s: no-op apply sent %d writes", name, got)
		}
	}
	if e.store.Saves() != saves {
		t.Errorf("no-op runs saved state %d times", e.store.Saves()-saves)
	}
}

// TestDeletedObjectIsDrift: an object k3sync applied and someone deleted
// is planned as a create marked drift, with a note, so that a scheduled
// drift check reverts (or reports) it as it does an edited field, and as
// the Kafka and Kong targets do with what is deleted out of band.
func TestDeletedObjectIsDrift(t *testing.T) {
	e := newEnv(t)
	req := request(repo(t, nil))
	e.apply(t, req)
	cs := e.clients["eu-west"]
	if err := cs.CoreV1().ResourceQuotas("payments").Delete(t.Context(), render.QuotaName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	changes, err := e.targets["eu-west"].Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 {
		t.Fatalf("want 1 change, got:\n%s", summary(changes))
	}
	c := changes[0]
	if c.Action != plan.Create || c.Kind != "ResourceQuota" || c.Namespace != "payments" || !c.Drift || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "deleted outside k3sync") {
		t.Errorf("got %s %s drift=%v notes=%q, want a create of the quota marked drift", c.Action, c.Key, c.Drift, c.Notes)
	}
	e.apply(t, req)
	if _, err := cs.CoreV1().ResourceQuotas("payments").Get(t.Context(), render.QuotaName, metav1.GetOptions{}); err != nil {
		t.Errorf("quota after the revert: %v", err)
	}
}

func TestDriftOnExactlyTheEditedField(t *testing.T) {
	e := newEnv(t)
	req := request(repo(t, nil))
	e.apply(t, req)

	// Another manager edits the quota, as kubectl edit would.
	for _, ns := range []string{"payments", "checkout"} {
		cs := e.clients["eu-west"]
		rq, err := cs.CoreV1().ResourceQuotas(ns).Get(t.Context(), render.QuotaName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rq.Spec.Hard[corev1.ResourceRequestsCPU] = resource.MustParse("1")
		if _, err := cs.CoreV1().ResourceQuotas(ns).Update(t.Context(), rq, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
	}
	reads := e.targets["eu-west"].Stats().Reads.Load()
	changes, err := e.targets["eu-west"].Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 {
		t.Fatalf("want 2 changes, got:\n%s", summary(changes))
	}
	// The plan lists every kind's metadata, then reads in full only the
	// kind it diffs: one more list, not one request per object.
	if got := e.targets["eu-west"].Stats().Reads.Load() - reads; got != int64(len(kinds))+1 {
		t.Errorf("drift plan sent %d reads, want %d (metadata per kind, then the quotas in full)", got, len(kinds)+1)
	}
	for _, c := range changes {
		if c.Action != plan.Update || c.Kind != "ResourceQuota" || !c.Drift {
			t.Errorf("got %s %s drift=%v", c.Action, c.Key, c.Drift)
		}
		if len(c.Fields) != 1 {
			t.Fatalf("%s: want exactly one field, got %+v", c.Key, c.Fields)
		}
		f := c.Fields[0]
		want := map[string]string{"payments": "8", "checkout": "6"}[c.Namespace]
		if f.Path != "spec.hard.requests.cpu" || f.Before != "1" || f.After != want || !f.Drift || f.Manager != "kubectl-edit" {
			t.Errorf("%s: field %+v", c.Key, f)
		}
	}

	// An apply makes Git's state whatever the tenant's drift policy (it
	// decides only whether a scheduled check applies): both take the
	// field back from kubectl-edit, and the field is k3sync's again.
	results, err := e.targets["eu-west"].Apply(t.Context(), req, plan.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: revert failed: %v", r.Key, r.Err)
		}
	}
	for ns, want := range map[string]string{"payments": "8", "checkout": "6"} {
		rq, err := e.clients["eu-west"].CoreV1().ResourceQuotas(ns).Get(t.Context(), render.QuotaName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := rq.Spec.Hard[corev1.ResourceRequestsCPU]; got.String() != want {
			t.Errorf("%s requests.cpu: got %s, want %s", ns, got.String(), want)
		}
		for _, m := range rq.ManagedFields {
			if m.Manager == "kubectl-edit" && m.FieldsV1 != nil && strings.Contains(m.FieldsV1.GetRawString(), "requests.cpu") {
				t.Errorf("%s: kubectl-edit still manages requests.cpu", ns)
			}
		}
	}
	if changes, err := e.targets["eu-west"].Plan(t.Context(), req); err != nil || len(changes) != 0 {
		t.Errorf("plan after the revert: %v\n%s", err, summary(changes))
	}
}

func TestRemovedFromGit(t *testing.T) {
	e := newEnv(t)
	e.apply(t, request(repo(t, nil)))

	// Drop the payments namespace (protected), payments-batch (deletion
	// allowed) and the auditors' access grant from Git.
	after := repo(t, map[string][2]string{"payments": {`{group: "auditors", role: "view"},`, ``}})
	delete(after.Tenant("payments").Kubernetes.Namespaces, "payments-batch")
	req := request(after)

	// A foreign object with k3sync's labels, never applied by k3sync.
	foreign := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "k3sync:view:intruders", Namespace: "payments", Labels: map[string]string{
			render.LabelManagedBy: "k3sync", render.LabelTenant: "payments",
		}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "intruders"}},
	}
	if _, err := e.clients["eu-west"].RbacV1().RoleBindings("payments").Create(t.Context(), foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	changes, err := e.targets["eu-west"].Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := summary(changes)
	for _, want := range []string{
		"delete kubernetes/eu-west/Namespace/payments-batch",
		"delete kubernetes/eu-west/RoleBinding/payments/k3sync:view:auditors",
		"delete kubernetes/eu-west/RoleBinding/payments-batch/k3sync:view:auditors",
		"delete kubernetes/eu-west/ResourceQuota/payments-batch/tenant-quota",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "intruders") {
		t.Errorf("plan touches a foreign object:\n%s", got)
	}

	// Now the protected namespace itself leaves Git.
	delete(after.Tenant("payments").Kubernetes.Namespaces, "payments")
	changes, err = e.targets["eu-west"].Plan(t.Context(), request(after))
	if err != nil {
		t.Fatal(err)
	}
	got = summary(changes)
	if !strings.Contains(got, "orphan kubernetes/eu-west/Namespace/payments\n") || strings.Contains(got, "delete kubernetes/eu-west/Namespace/payments\n") {
		t.Fatalf("protected namespace not orphaned:\n%s", got)
	}
	results, err := e.targets["eu-west"].Apply(t.Context(), request(after), plan.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Key, r.Err)
		}
	}
	cs := e.clients["eu-west"]
	if ns, err := cs.CoreV1().Namespaces().Get(t.Context(), "payments", metav1.GetOptions{}); err != nil || ns.DeletionTimestamp != nil {
		t.Errorf("orphaned namespace payments was deleted: %v", err)
	}
	if _, err := cs.RbacV1().RoleBindings("payments").Get(t.Context(), "k3sync:view:intruders", metav1.GetOptions{}); err != nil {
		t.Errorf("foreign RoleBinding touched: %v", err)
	}
	if ns, err := cs.CoreV1().Namespaces().Get(t.Context(), "payments-batch", metav1.GetOptions{}); err == nil && ns.DeletionTimestamp == nil {
		t.Error("payments-batch (deletion allowed) was not deleted")
	}
	// The orphan left the inventory: the next plan is quiet about it.
	changes, err = e.targets["eu-west"].Plan(t.Context(), request(after))
	if err != nil {
		t.Fatal(err)
	}
	if s := summary(changes); strings.Contains(s, "Namespace/payments\n") {
		t.Errorf("orphan still planned:\n%s", s)
	}
}

func TestDeleteCap(t *testing.T) {
	e := newEnv(t)
	r := repo(t, nil)
	e.apply(t, request(r))
	r.Platform.Policy.Deletion.MaxDeletesPerPlan = 2
	delete(r.Tenant("search").Kubernetes.Namespaces, "search-indexer")
	req := request(r)
	changes, err := e.targets["eu-west"].Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	blocked := 0
	for _, c := range changes {
		if c.Action == plan.Delete {
			t.Errorf("delete above the cap: %s", c.Key)
		}
		if c.Action == plan.Blocked {
			blocked++
		}
	}
	if blocked < 3 {
		t.Fatalf("want the deletes blocked, got:\n%s", summary(changes))
	}
	results, err := e.targets["eu-west"].Apply(t.Context(), req, plan.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range results {
		if !errors.Is(res.Err, plan.ErrBlocked) {
			t.Errorf("%s: want blocked, got %v", res.Key, res.Err)
		}
	}
	if _, err := e.clients["eu-west"].CoreV1().Namespaces().Get(t.Context(), "search-indexer", metav1.GetOptions{}); err != nil {
		t.Errorf("a blocked delete happened: %v", err)
	}
	req.AllowMassDeletion = true
	changes, _ = e.targets["eu-west"].Plan(t.Context(), req)
	if s := summary(changes); !strings.Contains(s, "delete kubernetes/eu-west/Namespace/search-indexer") {
		t.Errorf("override did not lift the cap:\n%s", s)
	}
}

func TestUnreachableClusterFailsItsOwnPlan(t *testing.T) {
	kc := kube.UnreachableKubeconfigT(t)
	tg, err := New("eu-west", config.Cluster{Kubeconfig: kc}, state.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	_, err = tg.Plan(t.Context(), request(repo(t, nil)))
	if err == nil || !strings.Contains(err.Error(), "eu-west") {
		t.Fatalf("want an error naming the cluster, got %v", err)
	}
}
