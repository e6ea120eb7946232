package loader

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

func (c *tenantCheck) kong() {
	k := c.t.Kong
	if k == nil {
		return
	}
	name := c.t.Name
	if _, ok := c.p.Gateways[k.Gateway]; !ok {
		c.errorf(p("kong", "gateway"), "gateway %q is not defined in platform.cue (known: %s)", k.Gateway, keys(c.p.Gateways))
	}
	if n, limit := len(k.Services), c.p.Policy.Limits.MaxServicesPerTenant; n > limit {
		c.errorf(p("kong", "services"), "%d services, the platform allows at most %d per tenant", n, limit)
	}
	entity := func(at []string, kind, n string) {
		if n != name && !strings.HasPrefix(n, name+"-") {
			c.errorf(at, "%s %q is outside tenant %s's prefix %q", kind, n, name, name+"-")
		}
		c.claims.claim(c, at, "kong "+kind, k.Gateway+"/"+kind+"/"+n, fmt.Sprintf("Kong %s %q on gateway %s", kind, n, k.Gateway))
	}
	for _, sn := range sortedKeys(k.Services) {
		s := k.Services[sn]
		at := p("kong", "services", sn)
		entity(at, "service", sn)
		c.serviceURL(append(at, "url"), s.URL)
		for _, rn := range sortedKeys(s.Routes) {
			r := s.Routes[rn]
			rat := append(slices.Clone(at), "routes", rn)
			entity(rat, "route", rn)
			for i, path := range r.Paths {
				if path != "/"+name && !strings.HasPrefix(path, "/"+name+"/") {
					c.errorf(append(slices.Clone(rat), "paths", fmt.Sprint(i)), "path %q is outside tenant %s's prefix %q", path, name, "/"+name)
				}
				hosts := r.Hosts
				if len(hosts) == 0 {
					hosts = []string{"*"}
				}
				for _, h := range hosts {
					c.claims.claim(c, append(slices.Clone(rat), "paths", fmt.Sprint(i)), "route", k.Gateway+"/"+h+path, fmt.Sprintf("route path %s on host %s of gateway %s", path, h, k.Gateway))
				}
			}
		}
	}
	for _, cn := range sortedKeys(k.Consumers) {
		entity(p("kong", "consumers", cn), "consumer", cn)
		if k.Consumers[cn].KeyAuth && !c.hasNamespaces() {
			c.errorf(p("kong", "consumers", cn, "keyAuth"), "key-auth keys need a Kubernetes namespace of tenant %s to receive them as Secrets", name)
		}
	}
	for _, un := range sortedKeys(k.Upstreams) {
		at := p("kong", "upstreams", un)
		entity(at, "upstream", un)
		for i, tg := range k.Upstreams[un].Targets {
			host, _, err := net.SplitHostPort(tg.Target)
			if err != nil {
				host = tg.Target
			}
			if ns, ok := c.clusterService(host); !ok {
				c.errorf(append(slices.Clone(at), "targets", fmt.Sprint(i), "target"), "target %q must be a Service in one of tenant %s's namespaces (<service>.<namespace>.svc[.cluster.local])", tg.Target, name)
			} else if !c.ownsNamespace(ns) {
				c.errorf(append(slices.Clone(at), "targets", fmt.Sprint(i), "target"), "target %q points into namespace %q, which is not tenant %s's", tg.Target, ns, name)
			}
		}
	}
}

// serviceURL checks that a service proxies to the tenant's own upstream, a
// Service in the tenant's namespaces, or a host outside the cluster.
func (c *tenantCheck) serviceURL(at []string, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		c.errorf(at, "invalid url %q", raw)
		return
	}
	host := u.Hostname()
	if ns, ok := c.clusterService(host); ok {
		if !c.ownsNamespace(ns) {
			c.errorf(at, "url %q points into namespace %q, which is not tenant %s's", raw, ns, c.t.Name)
		}
		return
	}
	if !strings.Contains(host, ".") && net.ParseIP(host) == nil {
		if _, ok := c.t.Kong.Upstreams[host]; !ok {
			c.errorf(at, "url %q names upstream %q, which tenant %s does not define", raw, host, c.t.Name)
		}
	}
}

// clusterService returns the namespace of a cluster-local Service host name.
func (c *tenantCheck) clusterService(host string) (string, bool) {
	h := strings.TrimSuffix(strings.TrimSuffix(host, "."), ".cluster.local")
	parts := strings.Split(h, ".")
	if len(parts) == 3 && parts[2] == "svc" {
		return parts[1], true
	}
	return "", false
}

func (c *tenantCheck) hasNamespaces() bool {
	return c.t.Kubernetes != nil && len(c.t.Kubernetes.Namespaces) > 0
}

func (c *tenantCheck) ownsNamespace(ns string) bool {
	if c.t.Kubernetes == nil {
		return false
	}
	_, ok := c.t.Kubernetes.Namespaces[ns]
	return ok
}
