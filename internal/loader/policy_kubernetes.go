package loader

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/k3sync/k3sync/internal/model"
)

func (c *tenantCheck) kubernetes() {
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
		}
		for _, cl := range k.Clusters {
			c.claims.claim(c, at, "namespace", cl+"/"+nsName, fmt.Sprintf("namespace %q on cluster %s", nsName, cl))
		}
		c.quantities(at, ns)
		for key := range ns.Labels {
			if strings.HasPrefix(key, "k3sync.io/") || key == "app.kubernetes.io/managed-by" {
				c.errorf(append(at, "labels", key), "label %q is reserved for k3sync", key)
			}
		}
	}
	for i, g := range k.Access {
		for j, ns := range g.Namespaces {
			if _, ok := k.Namespaces[ns]; !ok {
				c.errorf(p("kubernetes", "access", fmt.Sprint(i), "namespaces", fmt.Sprint(j)), "namespace %q is not one of tenant %s's namespaces", ns, name)
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
