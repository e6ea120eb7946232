package render

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/k3sync/k3sync/internal/model"
)

// ClusterResources are a tenant's objects on one cluster. The objects
// are shared with the tenant's other clusters: read-only.
//
// A tenant rendered with TenantOnDemand has no Objects until a cluster
// asks for them (Desired), and they are let go once every cluster of the
// tenant is done with them (Release): the daemon plans and applies a
// thousand tenants without holding all their objects for the whole sync.
type ClusterResources struct {
	Cluster string                       `json:"cluster"`
	Objects []*unstructured.Unstructured `json:"objects"`
	// onDemand, when set, renders Objects, which is nil.
	onDemand *onDemandObjects
}

// Desired returns the objects on the cluster: Objects, or those of a
// tenant rendered with TenantOnDemand, rendered at the first call of any
// of its clusters and shared by them until every one has released them.
func (c *ClusterResources) Desired() []*unstructured.Unstructured {
	if c.onDemand == nil {
		return c.Objects
	}
	return c.onDemand.get()
}

// Release says the cluster's target is done with the objects Desired
// returned (what it still holds stays valid): once every cluster of the
// tenant has released them, nothing here holds them any more, and a later
// Desired renders them again. It does nothing for Objects rendered up
// front, or on nil (a tenant with nothing desired on the cluster).
func (c *ClusterResources) Release() {
	if c != nil && c.onDemand != nil {
		c.onDemand.release(c.Cluster)
	}
}

// onDemandObjects renders a tenant's objects when a cluster first asks and keeps
// them while a cluster that may still ask has not released them: one copy
// for all the tenant's clusters, none before or after.
type onDemandObjects struct {
	render func() []*unstructured.Unstructured
	mu     sync.Mutex
	objs   []*unstructured.Unstructured
	// holding are the clusters that have not released the objects.
	holding map[string]bool
}

func (o *onDemandObjects) get() []*unstructured.Unstructured {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.objs != nil {
		return o.objs
	}
	objs := o.render()
	if len(o.holding) > 0 {
		o.objs = objs
	}
	return objs
}

func (o *onDemandObjects) release(cluster string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.holding, cluster)
	if len(o.holding) == 0 {
		o.objs = nil
	}
}

// KindOrder is the order objects are created in: a kind's dependencies come
// before it. Deletes go in reverse.
var KindOrder = []string{"Namespace", "ServiceAccount", "ResourceQuota", "LimitRange", "RoleBinding", "NetworkPolicy"}

func kubernetes(p *model.Platform, t *model.Tenant, onDemand bool) []*ClusterResources {
	k := t.Kubernetes
	if k == nil {
		return nil
	}
	clusters := slices.Clone(k.Clusters)
	slices.Sort(clusters)
	clusters = slices.Compact(clusters)
	out := make([]*ClusterResources, 0, len(clusters))
	if onDemand {
		od := &onDemandObjects{render: func() []*unstructured.Unstructured { return kubernetesObjects(p, t) }, holding: map[string]bool{}}
		for _, cl := range clusters {
			od.holding[cl] = true
			out = append(out, &ClusterResources{Cluster: cl, onDemand: od})
		}
		return out
	}
	// Every cluster gets the same objects, which are read-only: a
	// thousand tenants on several clusters hold one copy.
	objs := kubernetesObjects(p, t)
	for _, cl := range clusters {
		out = append(out, &ClusterResources{Cluster: cl, Objects: objs})
	}
	return out
}

// kubernetesObjects renders the tenant's objects, the same on each of its
// clusters, in KindOrder.
func kubernetesObjects(p *model.Platform, t *model.Tenant) []*unstructured.Unstructured {
	k := t.Kubernetes
	var objs []*unstructured.Unstructured
	for _, nsName := range sortedKeys(k.Namespaces) {
		ns := k.Namespaces[nsName]
		objs = append(objs, namespace(t, ns))
		if k.HasDeployer() {
			objs = append(objs, serviceAccount(t, ns))
		}
		objs = append(objs, resourceQuota(t, ns))
		if ns.LimitRange != nil {
			objs = append(objs, limitRange(t, ns))
		}
		objs = append(objs, roleBindings(t, ns)...)
		if np := networkPolicy(p, t, ns); np != nil {
			objs = append(objs, np)
		}
	}
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return slices.Index(KindOrder, a.GetKind()) - slices.Index(KindOrder, b.GetKind())
	})
	return objs
}

func labels(t *model.Tenant, extra map[string]string) map[string]any {
	l := map[string]any{LabelTenant: t.Name, LabelManagedBy: ManagedBy}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

func meta(t *model.Tenant, name, namespace string) map[string]any {
	m := map[string]any{"name": name, "labels": labels(t, nil)}
	if namespace != "" {
		m["namespace"] = namespace
	}
	return m
}

func object(apiVersion, kind string, metadata map[string]any, fields map[string]any) *unstructured.Unstructured {
	o := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": metadata}
	maps.Copy(o, fields)
	return &unstructured.Unstructured{Object: o}
}

func namespace(t *model.Tenant, ns *model.Namespace) *unstructured.Unstructured {
	m := map[string]any{"name": ns.Name, "labels": labels(t, ns.Labels)}
	if len(ns.Annotations) > 0 {
		a := map[string]any{}
		for k, v := range ns.Annotations {
			a[k] = v
		}
		m["annotations"] = a
	}
	return object("v1", "Namespace", m, nil)
}

func serviceAccount(t *model.Tenant, ns *model.Namespace) *unstructured.Unstructured {
	return object("v1", "ServiceAccount", meta(t, ServiceAccountName, ns.Name), nil)
}

// quantity returns q in Kubernetes' canonical form; the loader validated it.
func quantity(q string) string {
	parsed, err := resource.ParseQuantity(q)
	if err != nil {
		return q
	}
	return parsed.String()
}

func resources(r *model.Resources) map[string]any {
	out := map[string]any{}
	if r == nil {
		return out
	}
	if r.CPU != "" {
		out["cpu"] = quantity(r.CPU)
	}
	if r.Memory != "" {
		out["memory"] = quantity(r.Memory)
	}
	return out
}

func resourceQuota(t *model.Tenant, ns *model.Namespace) *unstructured.Unstructured {
	q := ns.Quota
	hard := map[string]any{
		"requests.cpu":    quantity(q.Requests.CPU),
		"requests.memory": quantity(q.Requests.Memory),
		"pods":            quantity(itoa(q.Pods)),
	}
	if q.Limits != nil {
		if q.Limits.CPU != "" {
			hard["limits.cpu"] = quantity(q.Limits.CPU)
		}
		if q.Limits.Memory != "" {
			hard["limits.memory"] = quantity(q.Limits.Memory)
		}
	}
	return object("v1", "ResourceQuota", meta(t, cmp.Or(q.Name, QuotaName), ns.Name), map[string]any{"spec": map[string]any{"hard": hard}})
}

func limitRange(t *model.Tenant, ns *model.Namespace) *unstructured.Unstructured {
	lr := ns.LimitRange
	max, def, defReq := resources(lr.Max), resources(lr.Default), resources(lr.DefaultRequest)
	// The apiserver defaults a container limit range this way
	// (SetDefaults_LimitRangeItem) and the list is atomic: render what it
	// stores, or every plan would show the defaults as a change.
	for k, v := range max {
		if _, ok := def[k]; !ok {
			def[k] = v
		}
	}
	for k, v := range def {
		if _, ok := defReq[k]; !ok {
			defReq[k] = v
		}
	}
	item := map[string]any{"type": "Container"}
	for field, r := range map[string]map[string]any{"defaultRequest": defReq, "default": def, "max": max} {
		if len(r) > 0 {
			item[field] = r
		}
	}
	return object("v1", "LimitRange", meta(t, cmp.Or(lr.Name, LimitRangeName), ns.Name), map[string]any{"spec": map[string]any{"limits": []any{item}}})
}

// RoleBindingName is the name of the binding of group to role.
func RoleBindingName(group, role string) string {
	r := strings.NewReplacer("/", "-", "%", "-")
	return "k3sync:" + role + ":" + r.Replace(group)
}

// AccessBindingName is the RoleBinding name of an access grant: the name
// it gives, or RoleBindingName of its group and role.
func AccessBindingName(g model.AccessGrant) string {
	return cmp.Or(g.Name, RoleBindingName(g.Group, g.Role))
}

func roleBindings(t *model.Tenant, ns *model.Namespace) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	if t.Kubernetes.HasDeployer() {
		out = append(out, object("rbac.authorization.k8s.io/v1", "RoleBinding", meta(t, "k3sync:deployer", ns.Name), map[string]any{
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": ServiceAccountName, "namespace": ns.Name}},
		}))
	}
	for _, g := range t.Kubernetes.Access {
		if len(g.Namespaces) > 0 && !slices.Contains(g.Namespaces, ns.Name) {
			continue
		}
		out = append(out, object("rbac.authorization.k8s.io/v1", "RoleBinding", meta(t, AccessBindingName(g), ns.Name), map[string]any{
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": g.Role},
			"subjects": []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g.Group}},
		}))
	}
	slices.SortFunc(out, func(a, b *unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

func networkPolicy(p *model.Platform, t *model.Tenant, ns *model.Namespace) *unstructured.Unstructured {
	var from []any
	switch t.NetworkIsolation(p) {
	case model.IsolationNone:
		return nil
	case model.IsolationTenant:
		from = append(from, map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{LabelTenant: t.Name}}})
	case model.IsolationNamespace:
		from = append(from, map[string]any{"podSelector": map[string]any{}})
	}
	if allow := t.Kubernetes.AllowIngressFrom; len(allow) > 0 {
		values := make([]any, 0, len(allow))
		for _, n := range slices.Sorted(slices.Values(allow)) {
			values = append(values, n)
		}
		from = append(from, map[string]any{"namespaceSelector": map[string]any{"matchExpressions": []any{
			map[string]any{"key": "kubernetes.io/metadata.name", "operator": "In", "values": values},
		}}})
	}
	return object("networking.k8s.io/v1", "NetworkPolicy", meta(t, NetworkPolicyName, ns.Name), map[string]any{"spec": map[string]any{
		"podSelector": map[string]any{},
		"policyTypes": []any{"Ingress"},
		"ingress":     []any{map[string]any{"from": from}},
	}})
}
