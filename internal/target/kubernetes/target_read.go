package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
		if err := t.readKind(ctx, k, sel, live); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// readKind lists the objects of k that sel selects, in full, into live.
func (t *Target) readKind(ctx context.Context, k kind, sel string, live map[string]*unstructured.Unstructured) error {
	opts := metav1.ListOptions{LabelSelector: sel, Limit: pageSize}
	for {
		list, err := t.dyn.Resource(k.GVR()).List(ctx, opts)
		if err != nil {
			return fmt.Errorf("cluster %s: list %s: %w", t.name, k.Resource, err)
		}
		for i := range list.Items {
			o := &list.Items[i]
			// Lists drop apiVersion and kind from items.
			o.SetGroupVersionKind(k.GVK)
			live[idOf(o)] = o
		}
		if list.GetContinue() == "" {
			return nil
		}
		opts.Continue = list.GetContinue()
	}
}

// readLiveMeta is readLive reading metadata only (protobuf): name,
// namespace, UID, resourceVersion and labels, all a plan needs of an
// object it does not diff. Decoding the full objects as JSON was most of
// a no-op plan's CPU. The objects it returns carry only those fields and
// must not be diffed: partial holds their IDs until readFull replaces
// them.
func (t *Target) readLiveMeta(ctx context.Context, tenants []string) (live map[string]*unstructured.Unstructured, partial map[string]bool, err error) {
	sel, err := selector(tenants)
	if err != nil {
		return nil, nil, err
	}
	live, partial = map[string]*unstructured.Unstructured{}, map[string]bool{}
	if sel == "" {
		return live, partial, nil
	}
	// The kinds are listed in parallel: the apiserver answers one while
	// k3sync decodes another.
	var mu sync.Mutex
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(levelConcurrency)
	for _, k := range kinds {
		eg.Go(func() error {
			type found struct {
				id string
				u  *unstructured.Unstructured
			}
			var objs []found
			err := t.listMeta(ectx, k, "", sel, func(m *metav1.PartialObjectMetadata) {
				u := &unstructured.Unstructured{Object: make(map[string]any, 3)}
				u.SetGroupVersionKind(k.GVK)
				u.SetName(m.Name)
				if m.Namespace != "" {
					u.SetNamespace(m.Namespace)
				}
				if m.UID != "" {
					u.SetUID(m.UID)
				}
				if m.ResourceVersion != "" {
					u.SetResourceVersion(m.ResourceVersion)
				}
				if len(m.Labels) > 0 {
					u.SetLabels(m.Labels)
				}
				objs = append(objs, found{objectID(k.GVK.Kind, m.Namespace, m.Name), u})
			})
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, f := range objs {
				live[f.id] = f.u
				partial[f.id] = true
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, nil, err //nolint:wrapcheck // wrapped by listMeta
	}
	return live, partial, nil
}

// readFull reads in full, one labelled list per kind, the kinds of the
// objects of ids, and puts what it finds in live in place of the
// metadata readLiveMeta read of those kinds: a kind's objects come from
// one list, the newer one.
func (t *Target) readFull(ctx context.Context, tenants []string, ids []string, live map[string]*unstructured.Unstructured, partial map[string]bool) error {
	if len(ids) == 0 {
		return nil
	}
	sel, err := selector(tenants)
	if err != nil || sel == "" {
		return err
	}
	want := map[string]bool{}
	for _, id := range ids {
		kindName, _, _ := splitID(id)
		want[kindName] = true
	}
	for _, k := range kinds {
		if !want[k.GVK.Kind] {
			continue
		}
		for id := range partial {
			if kindName, _, _ := splitID(id); kindName == k.GVK.Kind {
				delete(live, id)
				delete(partial, id)
			}
		}
		if err := t.readKind(ctx, k, sel, live); err != nil {
			return err
		}
	}
	return nil
}

// readUnowned looks for the desired objects the labelled read did not
// find: they may exist without k3sync's labels (made by someone else) or
// with another tenant's. It lists namespaces once, metadata only, then
// for the namespaces that exist and are not themselves someone else's,
// each kind with a missing object there, in that namespace only. A plan
// whose desired objects were all found sends none of these requests; a
// new tenant's plan, whose namespaces do not exist yet, sends one.
//
// Inside a namespace found without the tenant's ownership nothing is
// looked for, since everything of the tenant in it is blocked, unless
// the namespace is in adopting: a tenant that adopts it adopts what it
// desires in it too.
func (t *Target) readUnowned(ctx context.Context, missing []string, adopting map[string]bool) (map[string]*metav1.PartialObjectMetadata, error) {
	found := map[string]*metav1.PartialObjectMetadata{}
	if len(missing) == 0 {
		return found, nil
	}
	nsKind := kinds[0]
	namespaces := map[string]*metav1.PartialObjectMetadata{}
	if err := t.listMeta(ctx, nsKind, "", "", func(o *metav1.PartialObjectMetadata) { namespaces[o.Name] = o }); err != nil {
		return nil, err
	}
	type group struct {
		kind      kind
		namespace string
	}
	wanted := map[group]map[string]bool{}
	for _, id := range missing {
		kindName, namespace, name := splitID(id)
		if kindName == nsKind.GVK.Kind {
			if o, ok := namespaces[name]; ok {
				found[id] = o
			}
			continue
		}
		k, _, ok := kindByName(kindName)
		if _, exists := namespaces[namespace]; !ok || !exists {
			continue
		}
		g := group{k, namespace}
		if wanted[g] == nil {
			wanted[g] = map[string]bool{}
		}
		wanted[g][name] = true
	}
	for g := range wanted {
		if _, foreign := found[objectID(nsKind.GVK.Kind, "", g.namespace)]; foreign && !adopting[g.namespace] {
			// Everything of the tenant in it is blocked anyway.
			delete(wanted, g)
		}
	}
	var mu sync.Mutex
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(levelConcurrency)
	for g, names := range wanted {
		eg.Go(func() error {
			return t.listMeta(ectx, g.kind, g.namespace, "", func(o *metav1.PartialObjectMetadata) {
				if names[o.Name] {
					mu.Lock()
					found[objectID(g.kind.GVK.Kind, g.namespace, o.Name)] = o
					mu.Unlock()
				}
			})
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err //nolint:wrapcheck // wrapped by listMeta
	}
	return found, nil
}

// readAdoptable reads in full the objects of ids (found by readUnowned,
// metadata only) that a tenant adopts: their fields are diffed with Git.
// One GET per object: adoption is rare, once per object.
func (t *Target) readAdoptable(ctx context.Context, ids []string) (map[string]*unstructured.Unstructured, error) {
	out := make(map[string]*unstructured.Unstructured, len(ids))
	var mu sync.Mutex
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(levelConcurrency)
	for _, id := range ids {
		kindName, ns, name := splitID(id)
		k, _, ok := kindByName(kindName)
		if !ok {
			continue
		}
		eg.Go(func() error {
			ri := t.dyn.Resource(k.GVR())
			var (
				o   *unstructured.Unstructured
				err error
			)
			if k.Namespaced {
				o, err = ri.Namespace(ns).Get(ectx, name, metav1.GetOptions{})
			} else {
				o, err = ri.Get(ectx, name, metav1.GetOptions{})
			}
			switch {
			case apierrors.IsNotFound(err):
				return nil // gone since: a create
			case err != nil:
				return fmt.Errorf("cluster %s: read %s to adopt it: %w", t.name, id, err)
			}
			mu.Lock()
			out[id] = o
			mu.Unlock()
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err //nolint:wrapcheck // names the cluster
	}
	return out, nil
}

// listMeta lists the metadata of every object of k, in namespace when k
// is namespaced, that sel selects ("" for whatever its labels), page by
// page.
func (t *Target) listMeta(ctx context.Context, k kind, namespace, sel string, each func(*metav1.PartialObjectMetadata)) error {
	opts := metav1.ListOptions{LabelSelector: sel, Limit: pageSize}
	for {
		var (
			list *metav1.PartialObjectMetadataList
			err  error
		)
		if namespace != "" {
			list, err = t.meta.Resource(k.GVR()).Namespace(namespace).List(ctx, opts)
		} else {
			list, err = t.meta.Resource(k.GVR()).List(ctx, opts)
		}
		if err != nil {
			where := k.Resource
			if namespace != "" {
				where += " in " + namespace
			}
			return fmt.Errorf("cluster %s: list %s: %w", t.name, where, err)
		}
		for i := range list.Items {
			each(&list.Items[i])
		}
		if list.GetContinue() == "" {
			return nil
		}
		opts.Continue = list.GetContinue()
	}
}
