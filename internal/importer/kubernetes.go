package importer

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/render"
)

// liveNamespace is what one namespace holds that a tenant can express.
type liveNamespace struct {
	ns       *corev1.Namespace
	quotas   []corev1.ResourceQuota
	limits   []corev1.LimitRange
	bindings []rbacv1.RoleBinding
	policies []string // NetworkPolicy names
}

// clusterNamespace is one cluster's copy of a namespace.
type clusterNamespace struct {
	cluster string
	ln      *liveNamespace
}

// namespaceBody writes labels, annotations, quota and limit range.
func (im *importer) namespaceBody(nso *obj, n string, ln *liveNamespace) {
	rules := im.platform.Policy.Guardrails.Kubernetes
	if l := im.keyed(nso, "label", n, ln.ns.Labels, rules.AllowedLabelKeys); !l.empty() {
		nso.fields = append([]*field{{label: "labels", value: l}}, nso.fields...)
	}
	if a := im.keyed(nso, "annotation", n, ln.ns.Annotations, rules.AllowedAnnotationKeys); !a.empty() {
		nso.set("annotations", a)
	}
	im.quota(nso, n, ln.quotas)
	im.limitRange(nso, n, ln.limits)
}

// body is the CUE text of o's fields, to compare.
func body(o *obj) string {
	var b strings.Builder
	o.write(&b, 0)
	return b.String()
}

// metadataName is the label the apiserver sets on every namespace.
const metadataName = "kubernetes.io/metadata.name"

func (im *importer) kubernetes(ctx context.Context, src *Sources) (*obj, error) {
	tenant := im.opts.Tenant
	out := &obj{}
	var wanted []string
	for _, n := range im.opts.Namespaces {
		if n != tenant && !strings.HasPrefix(n, tenant+"-") {
			im.skip(out, "namespace %s is outside tenant %s's prefix (%s or %s)", q(n), tenant, q(tenant), q(tenant+"-…"))
			continue
		}
		if !slices.Contains(wanted, n) {
			wanted = append(wanted, n)
		}
	}
	slices.Sort(wanted)
	found := map[string][]clusterNamespace{} // namespace -> its copies, by cluster
	var clusters []string
	type where struct{ namespace, cluster string }
	var missing []where
	for _, cl := range keys(src.Clusters) {
		if im.opts.Platform != nil && len(im.platform.Clusters) > 0 {
			if _, ok := im.platform.Clusters[cl]; !ok {
				im.skip(out, "cluster %s of the config file is not in platform.cue: not read", q(cl))
				continue
			}
		}
		cs := src.Clusters[cl]
		has := false
		for _, n := range wanted {
			ln, err := readNamespace(ctx, cs, n)
			if err != nil {
				return nil, fmt.Errorf("cluster %s: %w", cl, err)
			}
			if ln == nil {
				missing = append(missing, where{n, cl})
				continue
			}
			has = true
			im.opts.Progress("kubernetes %s: namespace %s read (%d quotas, %d limit ranges, %d role bindings)",
				cl, n, len(ln.quotas), len(ln.limits), len(ln.bindings))
			found[n] = append(found[n], clusterNamespace{cl, ln})
		}
		if has {
			clusters = append(clusters, cl)
		}
	}
	if len(found) == 0 {
		if len(out.fields) > 0 || len(wanted) > 0 && len(src.Clusters) > 0 {
			im.opts.Progress("kubernetes: none of the namespaces %s exists", strings.Join(wanted, ", "))
		}
		if len(out.fields) > 0 {
			return out, nil
		}
		return nil, nil
	}
	out.set("clusters", strList(clusters))
	var partly []string
	for _, m := range missing {
		if _, ok := found[m.namespace]; ok {
			partly = append(partly, m.namespace+" on "+m.cluster)
		}
	}
	if len(partly) > 0 {
		out.comment("Missing on some clusters (the first apply creates them): " + strings.Join(quoteAll(partly), ", "))
	}
	var nowhere []string
	for _, n := range wanted {
		if _, ok := found[n]; !ok {
			nowhere = append(nowhere, n)
		}
	}
	if len(nowhere) > 0 {
		out.comment("Not found on any cluster, so not imported: " + strings.Join(quoteAll(nowhere), ", "))
		im.opts.Progress("kubernetes: namespace(s) %s not found on any cluster", strings.Join(quoteAll(nowhere), ", "))
	}
	namespaces := out.sub("namespaces")
	type grantKey struct{ group, role string }
	grants := map[grantKey][]string{}
	// names are the live names grants keep (access[].name): a binding of
	// one group, named otherwise than k3sync would and as a grant's name
	// may be, is adopted under its own name rather than created beside.
	names := map[grantKey]string{}
	isolation, deployer := false, false
	rules := im.platform.Policy.Guardrails.Kubernetes
	groupRE := groupPattern(rules.GroupPattern, tenant)
	for _, n := range slices.Sorted(maps.Keys(found)) {
		copies := found[n]
		nso := &obj{}
		namespaces.set(label(n), nso)
		im.counts["namespaces"]++
		// Labels, annotations, quota and limit range from the first
		// cluster; a cluster that differs is reported.
		im.namespaceBody(nso, n, copies[0].ln)
		first := body(nso)
		for _, c := range copies[1:] {
			scratch := &importer{opts: im.opts, platform: im.platform, counts: map[string]int{}}
			o := &obj{}
			scratch.namespaceBody(o, n, c.ln)
			if body(o) != first {
				im.skip(nso, "namespace %s on cluster %s has other labels, annotations, quota or limit range than on %s: imported from %s", q(n), q(c.cluster), q(copies[0].cluster), q(copies[0].cluster))
			}
		}
		// Role bindings and network policies of every cluster.
		seen := map[string]bool{}
		once := func(format string, args ...any) {
			if msg := fmt.Sprintf(format, args...); !seen[msg] {
				seen[msg] = true
				im.skip(nso, "%s", msg)
			}
		}
		onClusters := map[grantKey][]string{}
		for _, c := range copies {
			ln := c.ln
			for _, p := range ln.policies {
				if p == render.NetworkPolicyName {
					isolation = true
					continue
				}
				once("NetworkPolicy %s in namespace %s: the tenant schema has no NetworkPolicies; k3sync leaves it as it is", q(p), q(n))
			}
			for _, rb := range ln.bindings {
				if rb.Name == "k3sync:deployer" && (rb.Labels[render.LabelManagedBy] == render.ManagedBy || deployerBinding(rb, n)) {
					deployer = true
					continue // k3sync's own, rendered for every namespace
				}
				where := fmt.Sprintf("RoleBinding %s in namespace %s", q(rb.Name), q(n))
				if rb.RoleRef.Kind != "ClusterRole" {
					once("%s binds %s %s: access grants bind ClusterRoles only", where, rb.RoleRef.Kind, q(rb.RoleRef.Name))
					continue
				}
				if !slices.Contains(rules.AllowedClusterRoles, rb.RoleRef.Name) {
					once("%s binds ClusterRole %s, which the platform does not allow (allowed: %s)", where, q(rb.RoleRef.Name), strings.Join(quoteAll(rules.AllowedClusterRoles), ", "))
					continue
				}
				for _, s := range rb.Subjects {
					switch {
					case s.Kind != rbacv1.GroupKind:
						once("%s grants ClusterRole %s to %s %s: access grants are for groups only", where, q(rb.RoleRef.Name), s.Kind, q(s.Name))
					case strings.HasPrefix(s.Name, "system:"):
						once("%s grants ClusterRole %s to group %s: system: groups are refused", where, q(rb.RoleRef.Name), q(s.Name))
					case groupRE != nil && !groupRE.MatchString(s.Name):
						once("%s grants ClusterRole %s to group %s, which does not match the platform's groupPattern %s", where, q(rb.RoleRef.Name), q(s.Name), q(rules.GroupPattern))
					default:
						k := grantKey{s.Name, rb.RoleRef.Name}
						want := cmp.Or(names[k], render.RoleBindingName(s.Name, rb.RoleRef.Name))
						if rb.Name != want && names[k] == "" && len(rb.Subjects) == 1 && grantName.MatchString(rb.Name) &&
							// Two grants of one name would be one binding.
							!slices.Contains(slices.Collect(maps.Values(names)), rb.Name) {
							names[k], want = rb.Name, rb.Name
						}
						if rb.Name != want && !seen["rename "+rb.Name+"\x00"+want] {
							seen["rename "+rb.Name+"\x00"+want] = true
							im.rename(nso, "RoleBinding", n, rb.Name, want)
						}
						if !slices.Contains(grants[k], n) {
							grants[k] = append(grants[k], n)
						}
						if !slices.Contains(onClusters[k], c.cluster) {
							onClusters[k] = append(onClusters[k], c.cluster)
						}
					}
				}
			}
		}
		for _, k := range slices.SortedFunc(maps.Keys(onClusters), func(a, b grantKey) int {
			return strings.Compare(a.group+"\x00"+a.role, b.group+"\x00"+b.role)
		}) {
			if cls := onClusters[k]; len(cls) < len(copies) {
				nso.comment(fmt.Sprintf("Group %s has ClusterRole %s in namespace %s on %s only: the first apply binds it on every cluster of the tenant.",
					q(k.group), q(k.role), q(n), strings.Join(quoteAll(cls), ", ")))
			}
		}
	}
	if len(grants) > 0 {
		var elems []string
		for _, k := range slices.SortedFunc(maps.Keys(grants), func(a, b grantKey) int {
			return strings.Compare(a.group+"\x00"+a.role, b.group+"\x00"+b.role)
		}) {
			nss := grants[k]
			slices.Sort(nss)
			pairs := []string{"group", quote(k.group), "role", quote(k.role)}
			if name := names[k]; name != "" {
				pairs = append(pairs, "name", quote(name))
			}
			if len(nss) < len(found) {
				pairs = append(pairs, "namespaces", "["+strings.Join(quoteAll(nss), ", ")+"]")
			}
			elems = append(elems, inline(pairs...))
			im.counts["access grants"]++
		}
		out.set("access", list{elems: elems, multiline: true})
	}
	if !isolation {
		out.set("networkIsolation", lit(quote("none")),
			"No k3sync NetworkPolicy was found: isolation stays off (the platform's default would add one).")
	}
	if !deployer && len(found) > 0 {
		out.set("deployer", lit("false"),
			"No k3sync deployer RoleBinding was found: set true for k3sync's deployer ServiceAccount (edit) in every namespace.")
	}
	return out, nil
}

// grantName is what access[].name may be (#Name in the schema).
var grantName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func groupPattern(pattern, tenant string) *regexp.Regexp {
	if pattern == "" {
		return nil
	}
	re, err := regexp.Compile(strings.ReplaceAll(pattern, "{tenant}", regexp.QuoteMeta(tenant)))
	if err != nil {
		return nil
	}
	return re
}

// readNamespace reads namespace n and what it holds; nil if it does not exist.
func readNamespace(ctx context.Context, cs kubernetes.Interface, n string) (*liveNamespace, error) {
	ns, err := cs.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", n, err)
	}
	ln := &liveNamespace{ns: ns}
	quotas, err := cs.CoreV1().ResourceQuotas(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: resource quotas: %w", n, err)
	}
	ln.quotas = quotas.Items
	limits, err := cs.CoreV1().LimitRanges(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: limit ranges: %w", n, err)
	}
	ln.limits = limits.Items
	bindings, err := cs.RbacV1().RoleBindings(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: role bindings: %w", n, err)
	}
	ln.bindings = bindings.Items
	slices.SortFunc(ln.bindings, func(a, b rbacv1.RoleBinding) int { return strings.Compare(a.Name, b.Name) })
	policies, err := cs.NetworkingV1().NetworkPolicies(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: network policies: %w", n, err)
	}
	for _, p := range policies.Items {
		ln.policies = append(ln.policies, p.Name)
	}
	slices.Sort(ln.policies)
	return ln, nil
}

// keyed returns the labels or annotations the tenant may set; the others
// are reported, except the apiserver's metadata.name label and k3sync's
// own marks, which every namespace k3sync manages has anyway.
func (im *importer) keyed(o *obj, kind, ns string, m map[string]string, allowed []string) *obj {
	out := &obj{}
	domains := loader.KeyDomains(im.platform.Policy.Guardrails.Kubernetes)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch {
		case kind == "label" && k == metadataName,
			kind == "label" && k == render.LabelTenant && v == im.opts.Tenant,
			kind == "label" && k == render.LabelManagedBy && v == render.ManagedBy:
			continue
		case k3syncKey(k):
			im.skip(o, "%s %s=%s of namespace %s: the key is reserved for k3sync", kind, q(k), qShort(v), q(ns))
			continue
		}
		if prefix, ok := loader.ReservedKey(domains, k); ok && !loader.AllowedKey(allowed, k) {
			im.skip(o, "%s %s=%s of namespace %s: the prefix %s is reserved and the platform does not allow this key", kind, q(k), qShort(v), q(ns), q(prefix))
			continue
		}
		out.set(quote(k), lit(quote(v)))
	}
	return out
}

// k3syncKey is the loader's rule for k3sync's own label and annotation
// keys (internal/loader/policy_kubernetes.go).
func k3syncKey(key string) bool {
	prefix, _, ok := strings.Cut(strings.ToLower(key), "/")
	return key == render.LabelManagedBy || ok && (prefix == "k3sync.io" || strings.HasSuffix(prefix, ".k3sync.io"))
}

// deployerBinding reports whether rb is the binding k3sync renders for
// its deployer ServiceAccount in namespace ns, with or without k3sync's
// labels: then it is k3sync's own, adopted with the namespace, and no
// access grant.
func deployerBinding(rb rbacv1.RoleBinding, ns string) bool {
	return rb.RoleRef.Kind == "ClusterRole" && rb.RoleRef.Name == "edit" && len(rb.Subjects) == 1 &&
		rb.Subjects[0].Kind == rbacv1.ServiceAccountKind && rb.Subjects[0].Name == render.ServiceAccountName &&
		rb.Subjects[0].Namespace == ns
}

// quota maps one ResourceQuota (k3sync's by name, else the first) to the
// namespace's quota. A quota of another name keeps it (quota.name), so
// that the first plan adopts it instead of creating k3sync's beside it.
func (im *importer) quota(nso *obj, ns string, quotas []corev1.ResourceQuota) {
	if len(quotas) == 0 {
		nso.comment("No ResourceQuota in the namespace: the platform requires one; set quota before committing.")
		im.notes = append(im.notes, fmt.Sprintf("namespace %s has no ResourceQuota: the tenant file needs a quota", q(ns)))
		return
	}
	sortNamedFirst(quotas, func(o corev1.ResourceQuota) string { return o.Name }, render.QuotaName)
	rq := quotas[0]
	for _, other := range quotas[1:] {
		im.skip(nso, "ResourceQuota %s in namespace %s: a tenant namespace has one quota (%s imported)", q(other.Name), q(ns), q(rq.Name))
	}
	hard := rq.Spec.Hard
	get := func(names ...corev1.ResourceName) (string, bool) {
		for _, n := range names {
			if v, ok := hard[n]; ok {
				return v.String(), true
			}
		}
		return "", false
	}
	qo := &obj{}
	if rq.Name != render.QuotaName {
		// The quota keeps its name: adopted, not duplicated by k3sync's.
		qo.set("name", lit(quote(rq.Name)))
	}
	req := &obj{}
	for _, r := range []struct {
		field string
		names []corev1.ResourceName
	}{{"cpu", []corev1.ResourceName{corev1.ResourceRequestsCPU, corev1.ResourceCPU}}, {"memory", []corev1.ResourceName{corev1.ResourceRequestsMemory, corev1.ResourceMemory}}} {
		if v, ok := get(r.names...); ok {
			req.set(r.field, lit(quote(v)))
		} else {
			im.skip(nso, "ResourceQuota %s in namespace %s sets no requests.%s: the tenant's quota needs it", q(rq.Name), q(ns), r.field)
		}
	}
	qo.set("requests", req)
	lim := &obj{}
	if v, ok := get(corev1.ResourceLimitsCPU); ok {
		lim.set("cpu", lit(quote(v)))
	}
	if v, ok := get(corev1.ResourceLimitsMemory); ok {
		lim.set("memory", lit(quote(v)))
	}
	if !lim.empty() {
		qo.set("limits", lim)
	}
	if v, ok := hard[corev1.ResourcePods]; ok {
		qo.set("pods", num(v.Value()))
	} else {
		im.skip(nso, "ResourceQuota %s in namespace %s sets no pods: the tenant's quota needs it", q(rq.Name), q(ns))
	}
	known := map[corev1.ResourceName]bool{corev1.ResourceRequestsCPU: true, corev1.ResourceCPU: true, corev1.ResourceRequestsMemory: true,
		corev1.ResourceMemory: true, corev1.ResourceLimitsCPU: true, corev1.ResourceLimitsMemory: true, corev1.ResourcePods: true}
	for _, k := range slices.Sorted(maps.Keys(hard)) {
		if !known[k] {
			v := hard[k]
			im.skip(nso, "ResourceQuota %s in namespace %s: hard %s=%s (the tenant's quota has cpu, memory and pods only)", q(rq.Name), q(ns), q(string(k)), q(v.String()))
		}
	}
	if len(rq.Spec.Scopes) > 0 || rq.Spec.ScopeSelector != nil {
		im.skip(nso, "ResourceQuota %s in namespace %s: scopes (the tenant's quota covers the whole namespace)", q(rq.Name), q(ns))
	}
	nso.set("quota", qo)
}

// sortNamedFirst sorts objects by name, the one named first (k3sync's
// name for it) ahead of the others.
func sortNamedFirst[T any](objs []T, name func(T) string, first string) {
	slices.SortFunc(objs, func(a, b T) int {
		switch x, y := name(a), name(b); {
		case x == first:
			return -1
		case y == first:
			return 1
		default:
			return strings.Compare(x, y)
		}
	})
}

// limitRange maps the Container item of one LimitRange (k3sync's by name,
// else the first).
func (im *importer) limitRange(nso *obj, ns string, limits []corev1.LimitRange) {
	if len(limits) == 0 {
		return
	}
	sortNamedFirst(limits, func(o corev1.LimitRange) string { return o.Name }, render.LimitRangeName)
	lr := limits[0]
	for _, other := range limits[1:] {
		im.skip(nso, "LimitRange %s in namespace %s: a tenant namespace has one (%s imported)", q(other.Name), q(ns), q(lr.Name))
	}
	lro := &obj{}
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			im.skip(nso, "LimitRange %s in namespace %s: limits of type %s (the tenant's limit range is for containers)", q(lr.Name), q(ns), q(string(item.Type)))
			continue
		}
		for _, part := range []struct {
			field string
			list  corev1.ResourceList
		}{{"defaultRequest", item.DefaultRequest}, {"default", item.Default}, {"max", item.Max}} {
			po := &obj{}
			for _, k := range slices.Sorted(maps.Keys(part.list)) {
				v := part.list[k]
				if k == corev1.ResourceCPU || k == corev1.ResourceMemory {
					po.set(string(k), lit(quote(v.String())))
					continue
				}
				im.skip(nso, "LimitRange %s in namespace %s: %s %s=%s (cpu and memory only)", q(lr.Name), q(ns), part.field, q(string(k)), q(v.String()))
			}
			if !po.empty() {
				lro.set(part.field, po)
			}
		}
		if len(item.Min) > 0 || len(item.MaxLimitRequestRatio) > 0 {
			im.skip(nso, "LimitRange %s in namespace %s: min and maxLimitRequestRatio (defaultRequest, default and max only)", q(lr.Name), q(ns))
		}
	}
	if !lro.empty() {
		if lr.Name != render.LimitRangeName {
			// The limit range keeps its name, as the quota does.
			lro.fields = append([]*field{{label: "name", value: lit(quote(lr.Name))}}, lro.fields...)
		}
		nso.set("limitRange", lro)
	}
}
