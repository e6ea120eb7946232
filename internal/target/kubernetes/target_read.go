package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/k3sync/k3sync/internal/render"
)

// pageSize is the list page size: large enough that a cluster with a few
// thousand managed objects of a kind is read in a handful of requests.
const pageSize = 500

// objectID identifies an object on the cluster: Kind/namespace/name, the
// inventory's key.
func objectID(kind, namespace, name string) string {
	return kind + "/" + namespace + "/" + name
}

func idOf(u *unstructured.Unstructured) string {
	return objectID(u.GetKind(), u.GetNamespace(), u.GetName())
}

// splitID is the inverse of objectID.
func splitID(id string) (kind, namespace, name string) {
	parts := strings.SplitN(id, "/", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return parts[0], parts[1], parts[2]
}

// selector selects what k3sync manages, for some tenants or all.
func selector(tenants []string) (string, error) {
	managed, err := labels.NewRequirement(render.LabelManagedBy, selection.Equals, []string{render.ManagedBy})
	if err != nil {
		return "", fmt.Errorf("selector: %w", err)
	}
	sel := labels.NewSelector().Add(*managed)
	if tenants != nil {
		if len(tenants) == 0 {
			return "", nil
		}
		in, err := labels.NewRequirement(render.LabelTenant, selection.In, slices.Sorted(slices.Values(tenants)))
		if err != nil {
			return "", fmt.Errorf("selector: %w", err)
		}
		sel = sel.Add(*in)
	}
	return sel.String(), nil
}

// readLive lists every managed kind, one paged list per kind, and returns
// the objects by ID. tenants narrows the read; nil reads all tenants.
func (t *Target) readLive(ctx context.Context, tenants []string) (map[string]*unstructured.Unstructured, error) {
	sel, err := selector(tenants)
	if err != nil {
		return nil, err
	}
	live := map[string]*unstructured.Unstructured{}
	if sel == "" {
		return live, nil
	}
	for _, k := range kinds {
		opts := metav1.ListOptions{LabelSelector: sel, Limit: pageSize}
		for {
			list, err := t.dyn.Resource(k.GVR()).List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("cluster %s: list %s: %w", t.name, k.Resource, err)
			}
			for i := range list.Items {
				o := &list.Items[i]
				// Lists drop apiVersion and kind from items.
				o.SetGroupVersionKind(k.GVK)
				live[idOf(o)] = o
			}
			if list.GetContinue() == "" {
				break
			}
			opts.Continue = list.GetContinue()
		}
	}
	return live, nil
}
