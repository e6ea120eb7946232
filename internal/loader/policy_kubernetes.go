package loader

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/render"
)

func (c *tenantCheck) kubernetes() {
	c.reservedTenant()
	k := c.t.Kubernetes
	if k == nil {
		return
	}
	name := c.t.Name
	for i, cl := range k.Clusters {
		if _, ok := c.p.Clusters[cl]; !ok {
			c.errorf(p("kubernetes", "clusters", fmt.Sprint(i)), "cluster %q is not defined in platform.cue (known: %s)", cl, keys(c.p.Clusters))
		}
	}
	if n, limit := len(k.Namespaces), c.p.Policy.Limits.MaxNamespacesPerTenant; n > limit {
		c.errorf(p("kubernetes", "namespaces"), "%d namespaces, the platform allows at most %d per tenant", n, limit)
	}
	for _, nsName := range sortedKeys(k.Namespaces) {
		ns := k.Namespaces[nsName]
		at := p("kubernetes", "namespaces", nsName)
		if nsName != name && !strings.HasPrefix(nsName, name+"-") {
			c.errorf(at, "namespace %q is outside tenant %s's prefix: use %q or %q", nsName, name, name, name+"-…")
		} else if other := c.longerTenant(nsName); other != "" {
			c.errorf(at, "namespace %q is in the prefix of tenant %s, whose name is longer: only it may claim it", nsName, other)
		}
		if why, ok := c.kube.reservedNamespace(nsName); ok {
			c.errorf(at, "namespace %q is reserved (%s): no tenant may claim it", nsName, why)
		}
		// One tenant per namespace name on every cluster: Kong, Kafka's
		// credentials and people read a namespace by its name, whatever
		// the cluster.
		c.claims.claim(c, at, "namespace", nsName, fmt.Sprintf("namespace %q", nsName))
		c.quantities(at, ns)
		c.labels(at, ns.Labels)
		c.annotations(at, ns.Annotations)
	}
	var group *regexp.Regexp
	// bindings are the RoleBindings of the grants checked so far: name
	// and namespace -> the grant's index. A map, not a scan of the
	// earlier grants: a tenant with tens of thousands of grants must not
	// hold the validation of every tenant for minutes.
	type binding struct{ name, ns string }
	bindings := map[binding]int{}
	tenantNamespaces := sortedKeys(k.Namespaces)
	for i, g := range k.Access {
		gat := p("kubernetes", "access", fmt.Sprint(i))
		if !slices.Contains(c.kube.roles, g.Role) {
			c.errorf(append(gat, "role"), "ClusterRole %q may not be bound by tenants (allowed: %s)", g.Role, strings.Join(c.kube.roles, ", "))
		}
		if strings.HasPrefix(g.Group, "system:") {
			c.errorf(append(gat, "group"), "group %q is a Kubernetes system group: tenants may not grant roles to system:* groups", g.Group)
		} else if c.kube.groupPattern != "" {
			if group == nil {
				group = c.kube.group(name)
			}
			if group != nil && !group.MatchString(g.Group) {
				c.errorf(append(gat, "group"), "group %q does not match the platform's group pattern %q", g.Group, group.String())
			}
		}
		for j, ns := range g.Namespaces {
			if _, ok := k.Namespaces[ns]; !ok {
				c.errorf(p("kubernetes", "access", fmt.Sprint(i), "namespaces", fmt.Sprint(j)), "namespace %q is not one of tenant %s's namespaces", ns, name)
			}
		}
		// Two grants of one name in a namespace would be one RoleBinding,
		// each apply taking it from the other: a name given, or the one
		// made of the group and role ("acme/dev" and "acme-dev" make one).
		bn := render.AccessBindingName(g)
		var only map[string]bool // nil: all of the tenant's namespaces
		if len(g.Namespaces) > 0 {
			only = make(map[string]bool, len(g.Namespaces))
			for _, ns := range g.Namespaces {
				only[ns] = true
			}
		}
		reported := false
		for _, ns := range tenantNamespaces {
			if only != nil && !only[ns] {
				continue
			}
			at := binding{bn, ns}
			j, taken := bindings[at]
			if !taken {
				bindings[at] = i
				continue
			}
			if !reported {
				reported = true
				hint := ""
				if g.Name == "" {
					hint = " (made of its group and role; set name)"
				}
				c.errorf(append(gat, "name"), "RoleBinding name %q%s is also access[%d]'s in namespace %q: each grant needs a name of its own", bn, hint, j, ns)
			}
		}
	}
}

func (c *tenantCheck) quantities(at []string, ns *model.Namespace) {
	check := func(field []string, q string) {
		if q == "" {
			return
		}
		if _, err := resource.ParseQuantity(q); err != nil {
			c.errorf(append(slices.Clone(at), field...), "invalid quantity %q: %v", q, err)
		}
	}
	check(p("quota", "requests", "cpu"), ns.Quota.Requests.CPU)
	check(p("quota", "requests", "memory"), ns.Quota.Requests.Memory)
	if l := ns.Quota.Limits; l != nil {
		check(p("quota", "limits", "cpu"), l.CPU)
		check(p("quota", "limits", "memory"), l.Memory)
		c.atLeast(at, "quota.limits.cpu", l.CPU, ns.Quota.Requests.CPU)
		c.atLeast(at, "quota.limits.memory", l.Memory, ns.Quota.Requests.Memory)
	}
	if lr := ns.LimitRange; lr != nil {
		for field, r := range map[string]*model.Resources{"defaultRequest": lr.DefaultRequest, "default": lr.Default, "max": lr.Max} {
			if r != nil {
				check(p("limitRange", field, "cpu"), r.CPU)
				check(p("limitRange", field, "memory"), r.Memory)
			}
		}
	}
}

// atLeast reports a limit below its request.
func (c *tenantCheck) atLeast(at []string, field, limit, request string) {
	l, err1 := resource.ParseQuantity(limit)
	r, err2 := resource.ParseQuantity(request)
	if limit == "" || err1 != nil || err2 != nil {
		return
	}
	if l.Cmp(r) < 0 {
		c.errorf(append(slices.Clone(at), strings.Split(field, ".")...), "limit %s is below the request %s", limit, request)
	}
}

// kubernetesRules are the platform's Kubernetes guardrails
// (policy.guardrails.kubernetes), prepared once per load so that each
// tenant's checks are lookups.
type kubernetesRules struct {
	// namespaces maps reserved names to why; prefixes lists reserved
	// prefixes ("kube-") with why.
	namespaces map[string]string
	prefixes   []reservedPrefix
	tenants    map[string]string
	roles      []string
	// groupPattern is the platform's pattern; fixed is it compiled when it
	// does not depend on the tenant.
	groupPattern string
	fixed        *regexp.Regexp
	labels       []string
	annotations  []string
	// keyDomains are the reserved label and annotation key domains.
	keyDomains []string
}

type reservedPrefix struct{ prefix, why string }

// reservedTenants are the tenant names no platform can give out, with why.
var reservedTenants = map[string]string{
	"default": `the "default" namespace belongs to Kubernetes`,
	"kube":    "kube-* namespaces belong to Kubernetes",
	"k3sync":  "k3sync's own namespace and label domain",
	"system":  `Kubernetes reserves "system:" identities`,
}

// tenantPlaceholder stands for the tenant's name in groupPattern.
const tenantPlaceholder = "{tenant}"

// kubernetesRules prepares the Kubernetes guardrails of p and the
// namespaces k3sync's configuration reserves.
func (l *loader) kubernetesRules(pl *model.Platform) *kubernetesRules {
	g := pl.Policy.Guardrails.Kubernetes
	r := &kubernetesRules{
		namespaces:  map[string]string{"default": "Kubernetes' default namespace"},
		prefixes:    []reservedPrefix{{"kube-", "kube-* namespaces belong to Kubernetes"}},
		tenants:     map[string]string{},
		roles:       slices.Sorted(slices.Values(g.AllowedClusterRoles)),
		labels:      g.AllowedLabelKeys,
		annotations: g.AllowedAnnotationKeys,
		keyDomains:  KeyDomains(g),
	}
	for _, ns := range l.opts.ReservedNamespaces {
		if ns != "" {
			r.namespaces[ns] = "k3sync's own namespace"
		}
	}
	const byPlatform = "policy.guardrails.kubernetes.reservedNamespaces"
	for _, ns := range g.ReservedNamespaces {
		if prefix, ok := strings.CutSuffix(ns, "*"); ok {
			r.prefixes = append(r.prefixes, reservedPrefix{prefix, byPlatform})
		} else if _, ok := r.namespaces[ns]; !ok {
			r.namespaces[ns] = byPlatform
		}
	}
	for _, t := range g.ReservedTenants {
		r.tenants[t] = "policy.guardrails.kubernetes.reservedTenants"
	}
	if pat := g.GroupPattern; pat != "" {
		// Compiled here with a sample name, so that a broken pattern is
		// reported once, on platform.cue.
		re, err := regexp.Compile(strings.ReplaceAll(pat, tenantPlaceholder, "tenant"))
		if err != nil {
			at := p("policy", "guardrails", "kubernetes", "groupPattern")
			l.errs.Addf(l.platform.locate(at), formatSelectors(at), "invalid regular expression %q: %v", pat, err)
		} else {
			r.groupPattern = pat
			if !strings.Contains(pat, tenantPlaceholder) {
				r.fixed = re
			}
		}
	}
	return r
}

// group returns the group pattern for the tenant: the pattern compiled
// once when it does not name the tenant, else compiled for this tenant
// (only for tenants with access grants; a few microseconds).
func (r *kubernetesRules) group(tenant string) *regexp.Regexp {
	if r.fixed != nil {
		return r.fixed
	}
	re, err := regexp.Compile(strings.ReplaceAll(r.groupPattern, tenantPlaceholder, regexp.QuoteMeta(tenant)))
	if err != nil {
		return nil // cannot happen: the sample compiled, and names are literals
	}
	return re
}

// reservedNamespace says why no tenant may claim ns, if it is reserved.
func (r *kubernetesRules) reservedNamespace(ns string) (string, bool) {
	if why, ok := r.namespaces[ns]; ok {
		return why, true
	}
	for _, rp := range r.prefixes {
		if strings.HasPrefix(ns, rp.prefix) {
			return rp.why, true
		}
	}
	return "", false
}

// reservedTenant reports a tenant whose name is reserved, on its folder.
func (c *tenantCheck) reservedTenant() {
	why, ok := reservedTenants[c.t.Name]
	if !ok {
		why, ok = c.kube.tenants[c.t.Name]
	}
	if !ok || len(c.t.Files) == 0 {
		return
	}
	c.l.errs.Add(diag.Error{File: c.t.Files[0], Line: 1, Column: 1, Message: fmt.Sprintf(
		"tenant name %q is reserved (%s): rename the folder %s", c.t.Name, why, c.t.Dir)})
}

// k3syncKey reports keys in k3sync's own domain, which it sets itself:
// a tenant setting them could disown its objects or claim another's.
func k3syncKey(key string) bool {
	prefix, _, ok := strings.Cut(strings.ToLower(key), "/")
	return key == "app.kubernetes.io/managed-by" || ok && (prefix == "k3sync.io" || strings.HasSuffix(prefix, ".k3sync.io"))
}

// KeyDomains are the label and annotation key domains the platform's
// guardrails g reserve: Kubernetes' own, and reservedKeyDomains.
func KeyDomains(g model.KubernetesGuardrails) []string {
	return append([]string{"kubernetes.io", "k8s.io"}, g.ReservedKeyDomains...)
}

// ReservedKey returns the prefix of a label or annotation key in one of
// the reserved domains (pod-security.kubernetes.io/enforce,
// openshift.io/run-level), which components act on.
func ReservedKey(domains []string, key string) (string, bool) {
	prefix, _, ok := strings.Cut(strings.ToLower(key), "/")
	if !ok {
		return "", false
	}
	for _, d := range domains {
		if prefix == d || strings.HasSuffix(prefix, "."+d) {
			return prefix, true
		}
	}
	return "", false
}

// AllowedKey reports whether the platform's list allows key: an entry
// ending in "/" allows its prefix, any other entry one key.
func AllowedKey(allowed []string, key string) bool {
	for _, a := range allowed {
		if a == key || strings.HasSuffix(a, "/") && strings.HasPrefix(key, a) {
			return true
		}
	}
	return false
}

func (c *tenantCheck) labels(at []string, labels map[string]string) {
	for _, key := range sortedKeys(labels) {
		kat := append(slices.Clone(at), "labels", key)
		if msgs := content.IsLabelKey(key); len(msgs) > 0 {
			c.errorf(kat, "invalid label key %q: %s", key, strings.Join(msgs, "; "))
			continue
		}
		c.reservedKey(kat, "label", "allowedLabelKeys", c.kube.labels, key)
		if msgs := content.IsLabelValue(labels[key]); len(msgs) > 0 {
			c.errorf(kat, "label %q: invalid value %q: %s", key, labels[key], strings.Join(msgs, "; "))
		}
	}
}

// maxAnnotationBytes is what Kubernetes accepts in one object's
// annotations, keys and values together.
const maxAnnotationBytes = 256 << 10

func (c *tenantCheck) annotations(at []string, annotations map[string]string) {
	size := 0
	for _, key := range sortedKeys(annotations) {
		size += len(key) + len(annotations[key])
		kat := append(slices.Clone(at), "annotations", key)
		// Kubernetes checks annotation keys as label keys, ignoring case.
		if msgs := content.IsLabelKey(strings.ToLower(key)); len(msgs) > 0 {
			c.errorf(kat, "invalid annotation key %q: %s", key, strings.Join(msgs, "; "))
			continue
		}
		c.reservedKey(kat, "annotation", "allowedAnnotationKeys", c.kube.annotations, key)
	}
	if size > maxAnnotationBytes {
		c.errorf(append(slices.Clone(at), "annotations"), "annotations take %d bytes, Kubernetes accepts at most %d", size, maxAnnotationBytes)
	}
}

// reservedKey reports a label or annotation key in k3sync's domain, or in
// a reserved one (Kubernetes', reservedKeyDomains) that the platform does
// not allow.
func (c *tenantCheck) reservedKey(at []string, kind, setting string, allowed []string, key string) {
	if k3syncKey(key) {
		c.errorf(at, "%s %q is reserved for k3sync", kind, key)
		return
	}
	if prefix, ok := ReservedKey(c.kube.keyDomains, key); ok && !AllowedKey(allowed, key) {
		c.errorf(at, "%s %q has the reserved prefix %q: only keys the platform allows (policy.guardrails.kubernetes.%s)", kind, key, prefix, setting)
	}
}
