package kubernetes

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	runtimeschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/openapi3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// typeSchema is what the local merge needs of a cluster's OpenAPI schema.
type typeSchema struct {
	converter managedfields.TypeConverter
	managers  map[runtimeschema.GroupVersionKind]*managedfields.FieldManager
}

// loadSchema fetches the OpenAPI v3 schema of the managed group versions
// once; a failed fetch is retried by the next plan.
func (t *Target) loadSchema(ctx context.Context) (*typeSchema, error) {
	t.schemaMu.Lock()
	defer t.schemaMu.Unlock()
	if t.schema != nil {
		return t.schema, nil
	}
	root := openapi3.NewRoot(t.clientset.Discovery().OpenAPIV3())
	schemas := map[string]*spec.Schema{}
	for _, gv := range groupVersions() {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("openapi: %w", err)
		}
		doc, err := root.GVSpec(gv)
		if err != nil {
			return nil, fmt.Errorf("openapi %s: %w", gv, err)
		}
		addSchemas(schemas, doc)
	}
	tc, err := managedfields.NewTypeConverter(schemas, false)
	if err != nil {
		return nil, fmt.Errorf("openapi: type converter: %w", err)
	}
	ts := &typeSchema{converter: tc, managers: map[runtimeschema.GroupVersionKind]*managedfields.FieldManager{}}
	for _, k := range kinds {
		fm, err := managedfields.NewDefaultFieldManager(tc, identityConverter{}, noDefaults{}, unstructuredCreater{}, k.GVK, k.GVK.GroupVersion(), "", nil)
		if err != nil {
			return nil, fmt.Errorf("field manager %s: %w", k.GVK.Kind, err)
		}
		ts.managers[k.GVK] = fm
	}
	t.schema = ts
	return ts, nil
}

func addSchemas(into map[string]*spec.Schema, doc *spec3.OpenAPI) {
	if doc == nil || doc.Components == nil {
		return
	}
	for name, s := range doc.Components.Schemas {
		into[name] = s
	}
}

// The field manager converts between versions and defaults objects. k3sync
// applies each kind in one version and leaves defaulting to the server, as
// a client computing an apply's outcome must.
type identityConverter struct{}

func (identityConverter) Convert(in, out, _ any) error {
	u, ok1 := in.(*unstructured.Unstructured)
	o, ok2 := out.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return errors.New("convert: only unstructured objects")
	}
	o.Object = u.DeepCopy().Object
	return nil
}

func (identityConverter) ConvertToVersion(in k8sruntime.Object, _ k8sruntime.GroupVersioner) (k8sruntime.Object, error) {
	return in, nil
}

func (identityConverter) ConvertFieldLabel(_ runtimeschema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

type noDefaults struct{}

func (noDefaults) Default(k8sruntime.Object) {}

type unstructuredCreater struct{}

func (unstructuredCreater) New(gvk runtimeschema.GroupVersionKind) (k8sruntime.Object, error) {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(gvk)
	return u, nil
}
