package deploytest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// warnings collects the apiserver's Warning headers (Pod Security,
// deprecations, unknown fields).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

// applier applies objects to one apiserver by server-side apply.
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	warn   *warnings
}

func newApplier(t *testing.T, cp *kube.ControlPlane) *applier {
	t.Helper()
	rc := cp.RESTConfig()
	a := &applier{warn: &warnings{}}
	rc.WarningHandler = a.warn
	var err error
	if a.dyn, err = dynamic.NewForConfig(rc); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	a.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return a
}

// apply server-side applies o, with strict field validation (unknown or
// duplicate fields are errors, as with kubectl), for real or as a dry run.
func (a *applier) apply(t *testing.T, o *unstructured.Unstructured, dryRun bool) error {
	t.Helper()
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s: %w", gvk, err)
	}
	ri := a.dyn.Resource(m.Resource)
	var r dynamic.ResourceInterface = ri
	if m.Scope.Name() == "namespace" {
		if o.GetNamespace() == "" {
			return fmt.Errorf("%s %s: namespaced, but has no namespace", gvk.Kind, o.GetName())
		}
		r = ri.Namespace(o.GetNamespace())
	}
	data, err := json.Marshal(o.Object)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: "deploytest", Force: ptr(true), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := r.Patch(t.Context(), o.GetName(), types.ApplyPatchType, data, opts); err != nil {
		return fmt.Errorf("%s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// dryRun applies the Namespaces of objs for real (a dry-run Namespace
// holds nothing) and everything with server-side dry-run. Errors and
// warnings fail the test.
func (a *applier) dryRun(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	a.warn.take()
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			if err := a.apply(t, o, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, o := range objs {
		if err := a.apply(t, o, true); err != nil {
			t.Error(err)
		}
	}
	if w := a.warn.take(); len(w) > 0 {
		t.Errorf("the apiserver warned:\n  %s", strings.Join(w, "\n  "))
	}
}

// serviceMonitorCRD is the smallest ServiceMonitor CRD that still checks
// the fields the chart sets (Prometheus Operator's is ~1 MB).
const serviceMonitorCRD = `{
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
  "spec": {
    "group": "monitoring.coreos.com", "scope": "Namespaced",
    "names": {"kind": "ServiceMonitor", "listKind": "ServiceMonitorList", "plural": "servicemonitors", "singular": "servicemonitor"},
    "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
      "type": "object",
      "properties": {"spec": {"type": "object", "required": ["selector", "endpoints"], "properties": {
        "selector": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "namespaceSelector": {"type": "object", "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}}},
        "endpoints": {"type": "array", "items": {"type": "object", "properties": {
          "port": {"type": "string"}, "path": {"type": "string"},
          "interval": {"type": "string", "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
          "scrapeTimeout": {"type": "string", "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
        }}}
      }}}
    }}}]
  }
}`

// installServiceMonitorCRD creates the CRD and waits until it is served:
// a bare apiserver has no Prometheus Operator.
func (a *applier) installServiceMonitorCRD(t *testing.T) {
	t.Helper()
	var crd unstructured.Unstructured
	if err := json.Unmarshal([]byte(serviceMonitorCRD), &crd.Object); err != nil {
		t.Fatal(err)
	}
	if err := a.apply(t, &crd, false); err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := a.dyn.Resource(gvr).Get(t.Context(), crd.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		established := false
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				established = true
			}
		}
		if established {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ServiceMonitor CRD not established after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.mapper.Reset()
}

// TestDryRun applies the kustomize base, the example overlay and the Helm
// chart with every value set to a real apiserver with server-side dry-run:
// the schema of every object, strict field validation, admission (Pod
// Security "restricted" warns on the Deployments) and RBAC escalation
// checks on the bindings all run.
func TestDryRun(t *testing.T) {
	cp := kube.StartT(t, 1)[0]
	a := newApplier(t, cp)
	a.installServiceMonitorCRD(t)

	// Warnings and strict validation are the checks: prove they fire.
	t.Run("checks fire", func(t *testing.T) {
		objs := kustomize(t, kustomizeBase)
		a.dryRun(t, []*unstructured.Unstructured{find(t, objs, "Namespace", "")})
		dep := find(t, objs, "Deployment", "k3sync").DeepCopy()
		unstructured.RemoveNestedField(dep.Object, "spec", "template", "spec", "securityContext")
		containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
		delete(containers[0].(map[string]any), "securityContext")
		_ = unstructured.SetNestedSlice(dep.Object, containers, "spec", "template", "spec", "containers")
		a.warn.take()
		if err := a.apply(t, dep, true); err != nil {
			t.Fatal(err)
		}
		if w := a.warn.take(); len(w) == 0 || !strings.Contains(strings.Join(w, " "), "restricted") {
			t.Fatalf("no Pod Security warning for a Deployment without securityContext: %v", w)
		}
		// And strict field validation: a misplaced field is an error.
		svc := find(t, objs, "Service", "k3sync").DeepCopy()
		_ = unstructured.SetNestedField(svc.Object, "http", "spec", "targetPort")
		if err := a.apply(t, svc, true); err == nil || !strings.Contains(err.Error(), "field not declared in schema") {
			t.Fatalf("a Service with spec.targetPort: got %v, want an unknown field error", err)
		}
	})

	t.Run("kustomize base", func(t *testing.T) { a.dryRun(t, kustomize(t, kustomizeBase)) })
	t.Run("kustomize overlay", func(t *testing.T) { a.dryRun(t, kustomize(t, kustomizeOverlay)) })

	// Helm installs into an existing namespace (--create-namespace makes a
	// bare one); label it as the base labels its own.
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": "k3sync-helm", "labels": map[string]any{
			"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted",
		}},
	}}
	if err := a.apply(t, ns, false); err != nil {
		t.Fatal(err)
	}
	c := loadChart(t, helmChart)
	for _, tc := range helmCases {
		t.Run("helm "+tc.name, func(t *testing.T) {
			a.dryRun(t, renderCase(t, c, tc.values, "k3sync-helm").objects(t))
		})
	}
}
