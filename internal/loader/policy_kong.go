package loader

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/k3sync/k3sync/internal/kongspec"
	"github.com/k3sync/k3sync/internal/model"
)

// kongRules are the platform's Kong guardrails (policy.guardrails.kong),
// checked and prepared once per load so that each tenant costs map
// lookups and string comparisons.
type kongRules struct {
	catalog kongspec.Catalog
	plugins map[string]bool
	// hosts are the route host patterns, with "{tenant}" still in them.
	hosts []hostPattern
	dest  destinations
	// paths are every tenant's route paths, by gateway.
	paths map[string][]tenantPath
	// under are, by gateway and tenant, the first path of another tenant
	// (in paths' order) that the tenant's bare path "/<tenant>" is a
	// prefix of, for the tenants that have a bare path.
	under map[gatewayTenant]*tenantPath
	// tenants are the repo's tenant names and nameLens their lengths:
	// ownHost looks other tenants' names up among the parts of a host of
	// those lengths.
	tenants  map[string]bool
	nameLens []int
}

type gatewayTenant struct{ gateway, tenant string }

// kongRules prepares the platform's Kong guardrails and reports the
// platform's own mistakes in them; kube are the Kubernetes guardrails,
// whose reserved namespaces a service host may not name either.
func (l *loader) kongRules(repo *model.Repo, kube *kubernetesRules) *kongRules {
	g := repo.Platform.Policy.Guardrails.Kong
	at := []string{"policy", "guardrails", "kong"}
	platformErr := func(path []string, format string, args ...any) {
		if l.platform != nil {
			l.errs.Addf(l.platform.locate(path), formatSelectors(path), format, args...)
		}
	}
	r := &kongRules{catalog: kongspec.Bundled(), plugins: map[string]bool{}, paths: routePaths(repo.Tenants), tenants: map[string]bool{}}
	r.under = bareConflicts(r.paths)
	for _, t := range repo.Tenants {
		r.tenants[t.Name] = true
		if !slices.Contains(r.nameLens, len(t.Name)) {
			r.nameLens = append(r.nameLens, len(t.Name))
		}
	}
	slices.Sort(r.nameLens)
	for i, name := range g.AllowedPlugins {
		if _, ok := r.catalog[name]; !ok {
			platformErr(append(slices.Clone(at), "allowedPlugins", strconv.Itoa(i)),
				"plugin %q has no schema in k3sync, which could not check tenants' configs (known: %s)", name, strings.Join(r.catalog.Names(), ", "))
			continue
		}
		r.plugins[name] = true
	}
	for i, raw := range g.AllowedRouteHosts {
		hp, err := parseHostPattern(raw)
		if err != nil {
			platformErr(append(slices.Clone(at), "allowedRouteHosts", strconv.Itoa(i)), "route host pattern %q: %v", raw, err)
			continue
		}
		r.hosts = append(r.hosts, hp)
	}
	r.dest = newDestinations(g, kube.reservedNamespace, repo.Tenants, func(field string, i int, format string, args ...any) {
		platformErr(append(slices.Clone(at), field, strconv.Itoa(i)), format, args...)
	})
	return r
}

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
		} else if other := c.longerTenant(n); other != "" {
			c.errorf(at, "%s %q is in the prefix of tenant %s, whose name is longer: only it may use it", kind, n, other)
		}
		c.kongName(at, kind+" name", n)
		if kind == "upstream" && strings.Contains(n, ".") {
			// Kong looks a service's host up among upstream names before
			// DNS: "payments-api.example.com" would take the traffic of
			// every service, of any tenant or of the platform, that
			// proxies to that host.
			c.errorf(at, "upstream name %q has a dot: Kong takes upstream names for host names, so it would receive the traffic of any service proxying to that host; use letters, digits, '-', '_' and '~'", n)
		}
		c.claims.claim(c, at, "kong "+kind, k.Gateway+"/"+kind+"/"+n, fmt.Sprintf("Kong %s %q on gateway %s", kind, n, k.Gateway))
	}
	for _, sn := range sortedKeys(k.Services) {
		s := k.Services[sn]
		at := p("kong", "services", sn)
		entity(at, "service", sn)
		c.serviceURL(append(at, "url"), s.URL)
		c.kongPlugins(at, s.Plugins, false)
		for _, rn := range sortedKeys(s.Routes) {
			rat := append(slices.Clone(at), "routes", rn)
			entity(rat, "route", rn)
			c.route(rat, s.Routes[rn])
		}
	}
	for _, cn := range sortedKeys(k.Consumers) {
		at := p("kong", "consumers", cn)
		co := k.Consumers[cn]
		entity(at, "consumer", cn)
		if co.KeyAuth && !c.hasNamespaces() {
			c.errorf(append(slices.Clone(at), "keyAuth"), "key-auth keys need a Kubernetes namespace of tenant %s to receive them as Secrets", name)
		}
		if co.CustomID != "" {
			cat := append(slices.Clone(at), "customId")
			c.kongName(cat, "custom_id", co.CustomID)
			// Kong keeps custom_id unique across the gateway.
			c.claims.claim(c, cat, "kong custom_id", k.Gateway+"/"+co.CustomID, fmt.Sprintf("Kong consumer custom_id %q on gateway %s", co.CustomID, k.Gateway))
		}
		for i, g := range co.Groups {
			gat := append(slices.Clone(at), "groups", strconv.Itoa(i))
			if g != name && !strings.HasPrefix(g, name+"-") {
				c.errorf(gat, "ACL group %q is outside tenant %s's prefix (%q or %q)", g, name, name, name+"-...")
			} else if other := c.longerTenant(g); other != "" {
				// Tenant a joining group a-b would pass the acl plugin of
				// tenant a-b's services.
				c.errorf(gat, "ACL group %q is in the prefix of tenant %s, whose name is longer: only it may use it", g, other)
			}
			c.kongName(gat, "ACL group", g)
		}
		c.kongPlugins(at, co.Plugins, true)
		if len(co.Plugins) > 0 && len(k.Services) == 0 {
			c.errorf(append(slices.Clone(at), "plugins"), "a consumer's plugins run on each of tenant %s's services, and it has none", name)
		}
	}
	for _, un := range sortedKeys(k.Upstreams) {
		at := p("kong", "upstreams", un)
		entity(at, "upstream", un)
		for i, tg := range k.Upstreams[un].Targets {
			c.target(append(slices.Clone(at), "targets", strconv.Itoa(i), "target"), tg.Target)
		}
	}
}

// kongName reports a name outside Kong's character set for names.
func (c *tenantCheck) kongName(at []string, what, n string) {
	if !kongspec.ValidName(n) {
		c.errorf(at, "%s %q has characters Kong does not accept: use letters, digits, '.', '-', '_' and '~'", what, n)
	}
}

// route checks a route's paths and hosts and claims each host and path.
// A route needs paths, under the tenant's prefix, unless every one of its
// hosts is the tenant's own: it then claims the whole host. Kong matches a
// route without paths on every path, and prefers a route that sets more of
// hosts, methods and paths: on a host other tenants route too (or on no
// host at all) it would take their requests.
func (c *tenantCheck) route(at []string, r *model.KongRoute) {
	name, gw := c.t.Name, c.t.Kong.Gateway
	hosts := make([]string, 0, len(r.Hosts))
	hostAt := make([][]string, 0, len(r.Hosts))
	shared := "" // the first allowed host, as written, that is not the tenant's own
	allowed := true
	for i, raw := range r.Hosts {
		hat := append(slices.Clone(at), "hosts", strconv.Itoa(i))
		if msg := kongspec.CheckRouteHost(raw); msg != "" {
			c.errorf(hat, "host %q: %s", raw, dataSafe(msg))
			allowed = false
			continue
		}
		h := normalizeRouteHost(raw)
		if !c.kongRules.hostAllowed(h, name) {
			if len(c.kongRules.hosts) == 0 {
				c.errorf(hat, "host %q is not allowed: the platform allows no route hosts (policy.guardrails.kong.allowedRouteHosts)", raw)
			} else {
				c.errorf(hat, "host %q is not allowed for tenant %s (allowed: %s)", raw, name, c.kongRules.describeHosts(name))
			}
			allowed = false
		} else if shared == "" && len(r.Paths) == 0 && !c.ownHost(h) {
			shared = raw
		}
		hosts = append(hosts, h)
		hostAt = append(hostAt, hat)
	}
	if len(r.Paths) == 0 {
		pat := append(slices.Clone(at), "paths")
		switch {
		case len(r.Hosts) == 0:
			c.errorf(pat, "a route needs paths: with neither paths nor hosts it would take every request to the gateway that no other route matches, other tenants' included; add paths under tenant %s's prefix %q", name, "/"+name)
		case shared != "":
			c.errorf(pat, "a route needs paths on host %q, which other tenants may route too: without paths it would take every request to that host, theirs included; add paths under tenant %s's prefix %q (only a host of tenant %s's own may go without them)", shared, name, "/"+name, name)
		case allowed:
			// Every host is the tenant's own: the route takes all of it.
			for i, h := range hosts {
				c.claims.claim(c, hostAt[i], "route", gw+"/"+h, fmt.Sprintf("every path of host %s of gateway %s (a route without paths)", h, gw))
			}
		}
	}
	if len(hosts) == 0 {
		hosts = []string{"*"}
	}
	for i, path := range r.Paths {
		pat := append(slices.Clone(at), "paths", strconv.Itoa(i))
		c.routePath(pat, path)
		for _, h := range hosts {
			c.claims.claim(c, pat, "route", gw+"/"+h+path, fmt.Sprintf("route path %s on host %s of gateway %s", dataSafe(path), h, gw))
		}
	}
	c.kongPlugins(at, r.Plugins, false)
}

// ownHost reports whether route host h (normalised, allowed for the
// tenant) is one only the tenant may route: a "{tenant}" pattern admits
// it for the tenant, and no pattern admits it for anyone else. A
// "{tenant}" pattern that admits h for another tenant has that tenant's
// name in one of h's labels (names have no dot), so only those are tried.
func (c *tenantCheck) ownHost(h string) bool {
	name, rules := c.t.Name, c.kongRules
	own := false
	for _, hp := range rules.hosts {
		if !strings.Contains(hp.body, "{tenant}") {
			if hp.match(h, name) {
				return false // a host every tenant may route
			}
		} else if hp.match(h, name) {
			own = true
		}
	}
	if !own {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		for i := range label {
			for _, n := range rules.nameLens {
				if i+n > len(label) {
					break
				}
				if other := label[i : i+n]; other != name && rules.tenants[other] && rules.hostAllowed(h, other) {
					return false
				}
			}
		}
	}
	return true
}

// routePath reports a path outside the tenant's: "/<tenant>" or below
// "/<tenant>/". Kong matches a path as a prefix of the request's, so
// "/pay" also matches "/payments/…": the bare form is refused when a route
// of another tenant on the gateway has a path it is a prefix of. Kong
// normalises request paths (percent-decoding, dot segments) before
// matching, so a path must be written in the form it matches.
func (c *tenantCheck) routePath(at []string, path string) {
	name := c.t.Name
	if path != "/"+name && !strings.HasPrefix(path, "/"+name+"/") {
		c.errorf(at, "path %q is outside tenant %s's prefix %q", path, name, "/"+name)
		return
	}
	if strings.Contains(path, "%") || slices.ContainsFunc(strings.Split(path, "/")[1:], func(seg string) bool { return seg == "." || seg == ".." }) {
		c.errorf(at, "path %q has a percent-encoding or a dot segment, which Kong resolves before matching: write the path as it is matched", path)
		return
	}
	if path != "/"+name {
		return
	}
	if o := c.kongRules.under[gatewayTenant{c.t.Kong.Gateway, name}]; o != nil {
		c.errorf(at, "path %q would also match the paths of tenant %s (%q): Kong matches a path as a prefix of the request's; use %q", path, o.tenant, o.path, "/"+name+"/")
	}
}

// bareConflicts finds, once per tenant with a bare path "/<tenant>", the
// first path of another tenant on its gateway that the bare path is a
// prefix of (nil if none). The paths it is a prefix of sort together, from
// where it would be; a tenant's own paths are passed over once, however
// many of its routes have the bare path.
func bareConflicts(paths map[string][]tenantPath) map[gatewayTenant]*tenantPath {
	out := map[gatewayTenant]*tenantPath{}
	for gw, ps := range paths {
		for _, tp := range ps {
			key := gatewayTenant{gw, tp.tenant}
			if _, done := out[key]; done || tp.path != "/"+tp.tenant {
				continue
			}
			out[key] = nil
			i, _ := slices.BinarySearchFunc(ps, tp.path, func(o tenantPath, p string) int { return strings.Compare(o.path, p) })
			for j := i; j < len(ps) && strings.HasPrefix(ps[j].path, tp.path); j++ {
				if ps[j].tenant != tp.tenant {
					out[key] = &ps[j]
					break
				}
			}
		}
	}
	return out
}

// routePaths lists the route paths of every tenant, by gateway, sorted by
// path: the paths a bare path is a prefix of are one run of them.
func routePaths(tenants []*model.Tenant) map[string][]tenantPath {
	out := map[string][]tenantPath{}
	for _, t := range tenants {
		if t.Kong == nil {
			continue
		}
		for _, sn := range sortedKeys(t.Kong.Services) {
			for _, rn := range sortedKeys(t.Kong.Services[sn].Routes) {
				for _, p := range t.Kong.Services[sn].Routes[rn].Paths {
					out[t.Kong.Gateway] = append(out[t.Kong.Gateway], tenantPath{tenant: t.Name, path: p})
				}
			}
		}
	}
	for _, ps := range out {
		slices.SortFunc(ps, func(a, b tenantPath) int {
			return cmp.Or(strings.Compare(a.path, b.path), strings.Compare(a.tenant, b.tenant))
		})
	}
	return out
}

type tenantPath struct{ tenant, path string }

// kongPlugins checks the plugins of a service, route or consumer: allowed
// by the platform, with a config Kong accepts and hosts the tenant may
// reach.
func (c *tenantCheck) kongPlugins(owner []string, plugins map[string]*model.KongPlugin, onConsumer bool) {
	for _, pn := range sortedKeys(plugins) {
		at := append(slices.Clone(owner), "plugins", pn)
		if !c.kongRules.plugins[pn] {
			if ps, ok := c.kongRules.catalog[pn]; ok && ps.RunsCode() {
				c.errorf(at, "plugin %q runs code on the gateway; the platform does not allow it (policy.guardrails.kong.allowedPlugins)", pn)
			} else {
				c.errorf(at, "plugin %q is not allowed by the platform (allowed: %s)", pn, strings.Join(sortedKeys(c.kongRules.plugins), ", "))
			}
			continue
		}
		cfg := plugins[pn].Config
		errs, err := c.kongRules.catalog.ValidateConfig(pn, cfg, onConsumer)
		if err != nil {
			c.errorf(append(slices.Clone(at), "config"), "config: %v", err)
			continue
		}
		for _, e := range errs {
			if slices.Equal(e.Path, []string{kongspec.OnConsumer}) {
				c.errorf(at, "%s", e.Message)
				continue
			}
			c.errorf(append(append(slices.Clone(at), "config"), e.Path...), "%s", dataSafe(e.Message))
		}
		if len(errs) > 0 {
			continue
		}
		c.vaultReferences(append(slices.Clone(at), "config"), cfg)
		if anon, ok := cfg["anonymous"].(string); ok && anon != "" {
			// Kong runs anonymous requests as this consumer, with its
			// plugins, on the tenant's service.
			if _, own := c.t.Kong.Consumers[anon]; !own {
				c.errorf(append(slices.Clone(at), "config", "anonymous"), "anonymous %q must be one of tenant %s's consumers (by name)", anon, c.t.Name)
			}
		}
		for _, dp := range c.kongRules.catalog[pn].Destinations() {
			if host, ok := lookupString(cfg, dp); ok {
				c.destination(append(append(slices.Clone(at), "config"), dp...), "host", host, host, false)
			}
		}
	}
}

// vaultReferences reports every string of a plugin config that holds a
// Kong vault reference ({vault://env/…}): Kong resolves it on the
// gateway, so a tenant could send the gateway's environment or secrets
// to a host of its choosing (a redis password, a header value).
func (c *tenantCheck) vaultReferences(at []string, v any) {
	switch v := v.(type) {
	case string:
		if strings.Contains(strings.ToLower(v), "{vault://") {
			c.errorf(at, "a Kong vault reference reads the gateway's secrets; tenant configs cannot hold one")
		}
	case map[string]any:
		for _, k := range sortedKeys(v) {
			c.vaultReferences(append(slices.Clone(at), k), v[k])
		}
	case []any:
		for i, e := range v {
			c.vaultReferences(append(slices.Clone(at), strconv.Itoa(i)), e)
		}
	}
}

// lookupString returns the string at path in a JSON-shaped config.
func lookupString(cfg map[string]any, path []string) (string, bool) {
	var v any = cfg
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v = m[k]
	}
	s, ok := v.(string)
	return s, ok
}

// serviceURL checks that a service proxies to the tenant's own upstream, a
// Service in the tenant's namespaces, or a host outside the cluster.
func (c *tenantCheck) serviceURL(at []string, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		c.errorf(at, "invalid url %q", raw)
		return
	}
	c.destination(at, "url", raw, u.Hostname(), true)
}

// target checks that an upstream target is a Service in the tenant's
// namespaces (or a host the platform allows).
func (c *tenantCheck) target(at []string, raw string) {
	host, _, _ := kongspec.SplitHostPort(raw)
	c.destination(at, "target", raw, host, false)
}

// destination reports a host Kong would connect to that is outside the
// tenant: what names it (url, target, host), the value as written, and
// the host in it. Only a service URL may name one of the tenant's
// upstreams, and only it may leave the cluster unless the platform allows
// the host.
func (c *tenantCheck) destination(at []string, what, raw, host string, service bool) {
	d := c.kongRules.dest.classify(host)
	name := c.t.Name
	switch d.kind {
	case destPlatform:
	case destPublic:
		if what == "target" {
			c.errorf(at, "target %q must be a Service in one of tenant %s's namespaces (<service>.<namespace>.svc[.%s])", raw, name, c.kongRules.dest.domain)
		}
	case destNamespace:
		if !c.ownsNamespace(d.namespace) {
			c.errorf(at, "%s %q points into namespace %q, which is not tenant %s's", what, raw, d.namespace, name)
		}
	case destSingleLabel:
		if _, ok := c.t.Kong.Upstreams[d.host]; service && ok {
			return
		}
		if service {
			c.errorf(at, "url %q names upstream %q, which tenant %s does not define", raw, d.host, name)
		} else {
			c.errorf(at, "%s %q must be a Service in one of tenant %s's namespaces (<service>.<namespace>.svc[.%s])", what, raw, name, c.kongRules.dest.domain)
		}
	case destRefused:
		c.errorf(at, "%s %q %s; the platform does not allow it (policy.guardrails.kong.%s)", what, raw, d.reason, d.setting)
	case destInvalid:
		c.errorf(at, "%s %q has an invalid host %q", what, raw, host)
	}
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

// dataSafe keeps a message from Kong's validators on one printable line:
// they may quote what the tenant wrote.
func dataSafe(msg string) string {
	if strings.IndexFunc(msg, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return msg
	}
	q := strconv.Quote(msg)
	return q[1 : len(q)-1]
}
