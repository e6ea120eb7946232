package kubernetes

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/target/contracttest"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// TestContract runs the contract on two real apiservers side by side, one
// target each: every subtest gets a fresh target and state store on the
// cluster, and tenants of its own.
func TestContract(t *testing.T) {
	cps := kube.StartT(t, 2)
	for i, name := range []string{"eu-west", "us-east"} {
		t.Run(name, func(t *testing.T) { contracttest.Run(t, newKubeHarness(t, name, cps[i])) })
	}
}

type kubeHarness struct {
	cluster string
	rc      *rest.Config
	cs      kubernetes.Interface
	dyn     dynamic.Interface
}

func newKubeHarness(t *testing.T, cluster string, cp *kube.ControlPlane) kubeHarness {
	t.Helper()
	rc := cp.RESTConfig()
	rc.QPS, rc.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return kubeHarness{cluster: cluster, rc: rc, cs: cs, dyn: dyn}
}

func (h kubeHarness) Start(t *testing.T) contracttest.Env {
	e := &kubeEnv{kubeHarness: h, store: state.NewMemory(), wire: &contracttest.Wire{
		// k3sync creates with server-side apply.
		IsCreate: func(r *http.Request) bool {
			return r.Method == http.MethodPatch && strings.HasPrefix(r.Header.Get("Content-Type"), string(types.ApplyPatchType))
		},
		FailBody: `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"etcdserver: request timed out","reason":"InternalError","code":500}`,
	}}
	rc := rest.CopyConfig(h.rc)
	rc.Wrap(e.wire.Transport)
	tg, err := NewForConfig(h.cluster, rc, e.store)
	if err != nil {
		t.Fatal(err)
	}
	e.target = tg
	e.platform = &model.Platform{
		Clusters: map[string]model.Cluster{h.cluster: {Name: h.cluster}},
		Policy: model.Policy{
			Defaults: model.PolicyDefaults{Drift: model.DriftRevert, NetworkIsolation: model.IsolationNone},
			Deletion: model.PolicyDeletion{MaxDeletesPerPlan: 100},
		},
	}
	return e
}

type kubeEnv struct {
	kubeHarness
	target   *Target
	store    *state.Memory
	platform *model.Platform
	wire     *contracttest.Wire
}

func (e *kubeEnv) Target() apply.Target      { return e.target }
func (e *kubeEnv) Store() state.Store        { return e.store }
func (e *kubeEnv) StateID() string           { return e.target.stateTarget() }
func (e *kubeEnv) Platform() *model.Platform { return e.platform }

// A resource is a namespace, with its service account, quota and
// deployer role binding.
func contractNamespace(tenant string, i int) string { return fmt.Sprintf("%s-%d", tenant, i) }

func (e *kubeEnv) key(tenant, kind, namespace, name string) plan.Key {
	return plan.Key{Tenant: tenant, System: plan.Kubernetes, Target: e.cluster, Kind: kind, Namespace: namespace, Name: name}
}

func (e *kubeEnv) namespaceKeys(tenant, ns string) []plan.Key {
	return []plan.Key{
		e.key(tenant, "Namespace", "", ns),
		e.key(tenant, "ServiceAccount", ns, render.ServiceAccountName),
		e.key(tenant, "ResourceQuota", ns, render.QuotaName),
		e.key(tenant, "RoleBinding", ns, "k3sync:deployer"),
	}
}

func (e *kubeEnv) request(m *model.Tenant) plan.TenantRequest {
	return plan.TenantRequest{Desired: render.TenantResources(e.platform, m), Model: m}
}

func contractNamespaceModel(name string, deletion model.Protection) *model.Namespace {
	return &model.Namespace{
		Name:     name,
		Labels:   map[string]string{"cost-center": "cc-1"},
		Quota:    model.Quota{Requests: model.Resources{CPU: "1", Memory: "1Gi"}, Pods: 10},
		Deletion: deletion,
	}
}

func (e *kubeEnv) Tenant(name string, n int) plan.TenantRequest {
	m := &model.Tenant{
		Name: name,
		Kubernetes: &model.TenantKubernetes{
			Clusters: []string{e.cluster}, Namespaces: map[string]*model.Namespace{}, NetworkIsolation: model.IsolationNone,
		},
		Policies: model.TenantPolicies{Drift: model.DriftRevert},
	}
	for i := range n {
		ns := contractNamespace(name, i)
		m.Kubernetes.Namespaces[ns] = contractNamespaceModel(ns, model.Allow)
	}
	return e.request(m)
}

func (e *kubeEnv) Keys(tr plan.TenantRequest, i int) []plan.Key {
	return e.namespaceKeys(tr.Name(), contractNamespace(tr.Name(), i))
}

func (e *kubeEnv) Without(tr plan.TenantRequest, i int) plan.TenantRequest {
	m := contracttest.CloneModel(tr.Model)
	delete(m.Kubernetes.Namespaces, contractNamespace(tr.Name(), i))
	return e.request(m)
}

func (e *kubeEnv) Change(tr plan.TenantRequest, i int) (plan.TenantRequest, plan.Key) {
	m := contracttest.CloneModel(tr.Model)
	ns := contractNamespace(tr.Name(), i)
	m.Kubernetes.Namespaces[ns].Quota.Requests.CPU = "2"
	return e.request(m), e.key(tr.Name(), "ResourceQuota", ns, render.QuotaName)
}

// Protected is a namespace whose deletion neither it, the tenant nor the
// platform allows.
func (e *kubeEnv) Protected(tr plan.TenantRequest) (plan.TenantRequest, plan.Key, bool) {
	m := contracttest.CloneModel(tr.Model)
	ns := tr.Name() + "-keep"
	m.Kubernetes.Namespaces[ns] = contractNamespaceModel(ns, "")
	return e.request(m), e.key(tr.Name(), "Namespace", "", ns), true
}

func (e *kubeEnv) InventoryID(k plan.Key) string { return objectID(k.Kind, k.Namespace, k.Name) }

// Read describes an object by its labels, annotations and everything but
// metadata and status; a namespace being deleted (no controller manager
// finishes it) does not exist.
func (e *kubeEnv) Read(t *testing.T, k plan.Key) (string, bool) {
	t.Helper()
	kd, _, ok := kindByName(k.Kind)
	if !ok {
		t.Fatalf("kubernetes contract: Read of %s", k)
	}
	ri := e.dyn.Resource(kd.GVR())
	var get func() (map[string]any, error)
	if kd.Namespaced {
		get = func() (map[string]any, error) {
			u, err := ri.Namespace(k.Namespace).Get(t.Context(), k.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			return u.Object, nil
		}
	} else {
		get = func() (map[string]any, error) {
			u, err := ri.Get(t.Context(), k.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			return u.Object, nil
		}
	}
	obj, err := get()
	if apierrors.IsNotFound(err) {
		return "", false
	}
	if err != nil {
		t.Fatalf("get %s: %v", k, err)
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta["deletionTimestamp"] != nil {
		return "", false
	}
	out := map[string]any{"labels": meta["labels"], "annotations": meta["annotations"]}
	for f, v := range obj {
		if f != "metadata" && f != "status" {
			out[f] = v
		}
	}
	b, err := json.Marshal(out) // map keys sorted
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func (e *kubeEnv) Writes() int { return e.wire.Writes() }

// Drift edits the quota of namespace i, as kubectl edit would.
func (e *kubeEnv) Drift(t *testing.T, tr plan.TenantRequest, i int) plan.Key {
	t.Helper()
	ns := contractNamespace(tr.Name(), i)
	rqs := e.cs.CoreV1().ResourceQuotas(ns)
	rq, err := rqs.Get(t.Context(), render.QuotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rq.Spec.Hard[corev1.ResourceRequestsCPU] = resource.MustParse("3")
	if _, err := rqs.Update(t.Context(), rq, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	return e.key(tr.Name(), "ResourceQuota", ns, render.QuotaName)
}

func (e *kubeEnv) createNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := e.cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		t.Fatal(err)
	}
}

// Foreign is a namespace labelled as the tenant's and managed by k3sync.
func (e *kubeEnv) Foreign(t *testing.T, tenant, name string) plan.Key {
	t.Helper()
	ns := tenant + "-" + name
	e.createNamespace(t, ns, map[string]string{render.LabelManagedBy: render.ManagedBy, render.LabelTenant: tenant})
	return e.key(tenant, "Namespace", "", ns)
}

func (e *kubeEnv) Taken(t *testing.T, tr plan.TenantRequest, i int) plan.Key {
	t.Helper()
	ns := contractNamespace(tr.Name(), i)
	e.createNamespace(t, ns, map[string]string{"owner": "team-x"})
	return e.key(tr.Name(), "Namespace", "", ns)
}

func (e *kubeEnv) FailNextCreate(*testing.T) {
	e.wire.FailNextCreate()
}
