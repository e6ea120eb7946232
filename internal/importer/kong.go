package importer

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kong/go-database-reconciler/pkg/dump"
	gokong "github.com/kong/go-kong/kong"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/kongspec"
)

// Kong's defaults, which the file leaves out.
const (
	defaultRetries = 5
	defaultTimeout = 60000
	defaultWeight  = 100
)

var (
	serviceProtocols = []string{"http", "https", "grpc", "grpcs", "tcp", "tls"}
	routeProtocols   = []string{"http", "https", "grpc", "grpcs"}
	algorithms       = []string{"round-robin", "consistent-hashing", "least-connections", "latency"}
)

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func strs(ps []*string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, str(p))
	}
	return out
}

func intOr(p *int, d int) int {
	if p == nil {
		return d
	}
	return *p
}

func boolOr(p *bool, d bool) bool {
	if p == nil {
		return d
	}
	return *p
}

// liveKong is every entity of the gateway of the kinds a tenant has.
type liveKong struct {
	services  []*gokong.Service
	routes    []*gokong.Route
	plugins   []*gokong.Plugin
	consumers []*gokong.Consumer
	keyAuths  []*gokong.KeyAuth
	acls      []*gokong.ACLGroup
	// others counts the credentials of kinds the tenant schema does not
	// have, by consumer ID and kind.
	others    map[string]map[string]int
	upstreams []*gokong.Upstream
	targets   map[string][]*gokong.Target // upstream ID -> targets
}

// readKong lists every kind once (all pages), in parallel; targets per
// selected upstream, as Kong has them.
func readKong(ctx context.Context, c *gokong.Client) (*liveKong, error) {
	l := &liveKong{targets: map[string][]*gokong.Target{}, others: map[string]map[string]int{}}
	var basic []*gokong.BasicAuth
	var jwts []*gokong.JWTAuth
	var hmacs []*gokong.HMACAuth
	g, gctx := errgroup.WithContext(ctx)
	run := func(kind string, fn func() error) {
		g.Go(func() error {
			if err := fn(); err != nil {
				return fmt.Errorf("list %s: %w", kind, err)
			}
			return nil
		})
	}
	run("services", func() (err error) { l.services, err = dump.GetAllServices(gctx, c, nil); return })
	run("routes", func() (err error) { l.routes, err = dump.GetAllRoutes(gctx, c, nil); return })
	run("plugins", func() (err error) { l.plugins, err = dump.GetAllPlugins(gctx, c, nil); return })
	run("consumers", func() (err error) { l.consumers, err = dump.GetAllConsumers(gctx, c, nil); return })
	run("key-auths", func() (err error) { l.keyAuths, err = dump.GetAllKeyAuths(gctx, c, nil); return })
	run("acls", func() (err error) { l.acls, err = dump.GetAllACLGroups(gctx, c, nil); return })
	run("upstreams", func() (err error) { l.upstreams, err = dump.GetAllUpstreams(gctx, c, nil); return })
	run("basic-auths", func() (err error) { basic, err = dump.GetAllBasicAuths(gctx, c, nil); return })
	run("jwts", func() (err error) { jwts, err = dump.GetAllJWTAuths(gctx, c, nil); return })
	run("hmac-auths", func() (err error) { hmacs, err = dump.GetAllHMACAuths(gctx, c, nil); return })
	if err := g.Wait(); err != nil {
		return nil, err //nolint:wrapcheck // wrapped per kind
	}
	// Kong lists in its own order (by id): sort by name, for a stable file.
	byName := func(a, b *string, ida, idb *string) int {
		return cmp.Or(strings.Compare(str(a), str(b)), strings.Compare(str(ida), str(idb)))
	}
	slices.SortFunc(l.services, func(a, b *gokong.Service) int { return byName(a.Name, b.Name, a.ID, b.ID) })
	slices.SortFunc(l.routes, func(a, b *gokong.Route) int { return byName(a.Name, b.Name, a.ID, b.ID) })
	slices.SortFunc(l.plugins, func(a, b *gokong.Plugin) int { return byName(a.Name, b.Name, a.ID, b.ID) })
	slices.SortFunc(l.consumers, func(a, b *gokong.Consumer) int { return byName(a.Username, b.Username, a.ID, b.ID) })
	slices.SortFunc(l.upstreams, func(a, b *gokong.Upstream) int { return byName(a.Name, b.Name, a.ID, b.ID) })
	count := func(kind string, c *gokong.Consumer) {
		if c == nil {
			return
		}
		if l.others[str(c.ID)] == nil {
			l.others[str(c.ID)] = map[string]int{}
		}
		l.others[str(c.ID)][kind]++
	}
	for _, b := range basic {
		count("basic-auth", b.Consumer)
	}
	for _, j := range jwts {
		count("jwt", j.Consumer)
	}
	for _, h := range hmacs {
		count("hmac-auth", h.Consumer)
	}
	return l, nil
}

func (im *importer) kong(ctx context.Context, src *Sources) (*obj, error) {
	if src.Kong == nil {
		return nil, nil
	}
	gw, tenant := src.Gateway, im.opts.Tenant
	live, err := readKong(ctx, src.Kong)
	if err != nil {
		return nil, fmt.Errorf("kong gateway %s: %w", gw, err)
	}
	tag, prefix := im.opts.KongTag, im.opts.KongPrefix
	selected := func(name *string, tags []*string) bool {
		switch {
		case tag != "":
			return slices.Contains(strs(tags), tag)
		case prefix != "":
			return strings.HasPrefix(str(name), prefix)
		}
		return str(name) == tenant || strings.HasPrefix(str(name), tenant+"-")
	}
	// inPrefix: a name the tenant may give an entity (Kong's characters,
	// the tenant's prefix).
	inPrefix := func(n string) bool {
		return kongspec.ValidName(n) && (n == tenant || strings.HasPrefix(n, tenant+"-"))
	}
	out := &obj{}
	out.set("gateway", lit(quote(gw)))
	if im.opts.Platform != nil {
		if _, ok := im.platform.Gateways[gw]; !ok {
			im.skip(out, "gateway %s of the config file is not in platform.cue", q(gw))
		}
	}
	allowed := im.platform.Policy.Guardrails.Kong.AllowedPlugins

	// Plugins by the entity they are attached to.
	type owner struct{ kind, id string }
	plugins := map[owner][]*gokong.Plugin{}
	for _, p := range live.plugins {
		var owners []owner
		if p.Service != nil {
			owners = append(owners, owner{"service", str(p.Service.ID)})
		}
		if p.Route != nil {
			owners = append(owners, owner{"route", str(p.Route.ID)})
		}
		if p.Consumer != nil {
			owners = append(owners, owner{"consumer", str(p.Consumer.ID)})
		}
		// A plugin on several entities is reported with each of them
		// that is imported.
		for _, o := range owners {
			plugins[o] = append(plugins[o], p)
		}
	}
	imported := map[owner]bool{}
	pluginsOf := func(parent *obj, o owner, what string) {
		imported[o] = true
		po := &obj{}
		for _, p := range plugins[o] {
			n := str(p.Name)
			where := fmt.Sprintf("plugin %s on %s", q(n), what)
			switch {
			case (p.Service != nil && p.Route != nil) || (p.Service != nil && p.Consumer != nil) || (p.Route != nil && p.Consumer != nil) || p.ConsumerGroup != nil:
				im.skip(po, "%s: it applies to a combination of entities, the tenant schema attaches a plugin to one", where)
				continue
			case !slices.Contains(allowed, n):
				im.skip(po, "%s: the platform does not allow this plugin (allowed: %s)", where, strings.Join(allowed, ", "))
				continue
			case str(p.InstanceName) != "":
				im.skip(po, "%s: instance name %s (the tenant schema names a plugin by its kind)", where, q(str(p.InstanceName)))
			}
			if slices.ContainsFunc(po.fields, func(f *field) bool { return f.label == label(n) }) {
				im.skip(po, "%s: a second instance of the plugin", where)
				continue
			}
			pl := &obj{}
			if !boolOr(p.Enabled, true) {
				pl.set("enabled", lit("false"))
			}
			cfg, _ := jsonValue(map[string]any(p.Config), 0)
			if c, ok := cfg.(*obj); ok && !c.empty() {
				pl.set("config", c)
			}
			po.set(label(n), pl)
			im.counts["plugins"]++
		}
		if !po.empty() {
			parent.set("plugins", po)
		}
	}

	// Services and their routes.
	routesOf := map[string][]*gokong.Route{}
	for _, r := range live.routes {
		if r.Service != nil {
			routesOf[str(r.Service.ID)] = append(routesOf[str(r.Service.ID)], r)
		}
	}
	services := &obj{}
	chosen := map[string]bool{}
	for _, s := range live.services {
		if !selected(s.Name, s.Tags) {
			continue
		}
		chosen[str(s.ID)] = true
		n := str(s.Name)
		if !inPrefix(n) {
			im.skip(services, "service %s (with its %d routes) is outside tenant %s's prefix %s or has characters Kong names may not have", q(n), len(routesOf[str(s.ID)]), tenant, q(tenant+"-"))
			continue
		}
		proto := str(s.Protocol)
		if !slices.Contains(serviceProtocols, proto) {
			im.skip(services, "service %s: protocol %s is not one the tenant schema has", q(n), q(proto))
			continue
		}
		so := &obj{}
		so.set("url", lit(quote(serviceURL(s))))
		if v := intOr(s.Retries, defaultRetries); v != defaultRetries {
			so.set("retries", num(v))
		}
		for _, t := range []struct {
			f string
			v *int
		}{{"connectTimeout", s.ConnectTimeout}, {"readTimeout", s.ReadTimeout}, {"writeTimeout", s.WriteTimeout}} {
			if v := intOr(t.v, defaultTimeout); v != defaultTimeout {
				so.set(t.f, num(v))
			}
		}
		if s.ClientCertificate != nil || len(s.CACertificates) > 0 || boolOr(s.TLSVerify, false) {
			im.skip(so, "service %s: client certificate, CA certificates and TLS verification are not in the tenant schema", q(n))
		}
		routes := &obj{}
		for _, r := range routesOf[str(s.ID)] {
			im.route(routes, r, n, inPrefix, func(o *obj, rn string) { pluginsOf(o, owner{"route", str(r.ID)}, "route "+q(rn)) })
		}
		if !routes.empty() {
			so.set("routes", routes)
		}
		pluginsOf(so, owner{"service", str(s.ID)}, "service "+q(n))
		services.set(label(n), so)
		im.counts["services"]++
	}
	for _, r := range live.routes {
		if selected(r.Name, r.Tags) && (r.Service == nil || !chosen[str(r.Service.ID)]) {
			im.skip(services, "route %s: its service is not imported (a tenant's routes belong to its services)", q(str(r.Name)))
		}
	}
	if !services.empty() {
		out.set("services", services)
	}

	// Consumers, with key-auth marked (never the key) and ACL groups.
	keyAuths := map[string]int{}
	for _, k := range live.keyAuths {
		if k.Consumer != nil {
			keyAuths[str(k.Consumer.ID)]++
		}
	}
	groups := map[string][]string{}
	for _, a := range live.acls {
		if a.Consumer != nil {
			groups[str(a.Consumer.ID)] = append(groups[str(a.Consumer.ID)], str(a.Group))
		}
	}
	consumers := &obj{}
	for _, c := range live.consumers {
		if !selected(c.Username, c.Tags) {
			continue
		}
		n := str(c.Username)
		if n == "" || !inPrefix(n) {
			im.skip(consumers, "consumer %s (custom_id %s) is outside tenant %s's prefix %s", q(n), q(str(c.CustomID)), tenant, q(tenant+"-"))
			continue
		}
		co := &obj{}
		if cid := str(c.CustomID); cid != "" {
			co.set("customId", lit(quote(cid)))
		}
		if k := keyAuths[str(c.ID)]; k > 0 {
			co.set("keyAuth", lit("true"), fmt.Sprintf("%d existing key-auth key(s): adopted, never exported.", k))
		}
		var mine []string
		for _, g := range groups[str(c.ID)] {
			if !inPrefix(g) {
				im.skip(co, "consumer %s: ACL group %s is outside tenant %s's prefix (%s or %s)", q(n), q(g), tenant, q(tenant), q(tenant+"-…"))
				continue
			}
			mine = append(mine, g)
		}
		if len(mine) > 0 {
			slices.Sort(mine)
			co.set("groups", strList(slices.Compact(mine)))
		}
		for _, kind := range slices.Sorted(maps.Keys(live.others[str(c.ID)])) {
			im.skip(co, "consumer %s has %d %s credential(s): the tenant schema has key-auth only; k3sync leaves them as they are", q(n), live.others[str(c.ID)][kind], kind)
		}
		pluginsOf(co, owner{"consumer", str(c.ID)}, "consumer "+q(n))
		consumers.set(label(n), co)
		im.counts["consumers"]++
	}
	if !consumers.empty() {
		out.set("consumers", consumers)
	}

	// Upstreams and their targets.
	upstreams := &obj{}
	var ups []*gokong.Upstream
	for _, u := range live.upstreams {
		if selected(u.Name, u.Tags) {
			ups = append(ups, u)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	targets := make([][]*gokong.Target, len(ups))
	for i, u := range ups {
		g.Go(func() (err error) {
			targets[i], err = dump.GetAllTargets(gctx, src.Kong, []*gokong.Upstream{u}, nil)
			if err != nil {
				return fmt.Errorf("kong gateway %s: upstream %s: list targets: %w", gw, str(u.Name), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err //nolint:wrapcheck // wrapped above
	}
	for i, u := range ups {
		n := str(u.Name)
		if !inPrefix(n) {
			im.skip(upstreams, "upstream %s (with its %d targets) is outside tenant %s's prefix %s", q(n), len(targets[i]), tenant, q(tenant+"-"))
			continue
		}
		uo := &obj{}
		switch a := str(u.Algorithm); {
		case a == "" || a == "round-robin":
		case slices.Contains(algorithms, a):
			uo.set("algorithm", lit(quote(a)))
		default:
			im.skip(uo, "upstream %s: algorithm %s is not one the tenant schema has (round-robin imported)", q(n), q(a))
		}
		var elems []string
		ts := targets[i]
		slices.SortFunc(ts, func(a, b *gokong.Target) int { return strings.Compare(str(a.Target), str(b.Target)) })
		for _, t := range ts {
			pairs := []string{"target", quote(str(t.Target))}
			if w := intOr(t.Weight, defaultWeight); w != defaultWeight {
				pairs = append(pairs, "weight", strconv.Itoa(w))
			}
			elems = append(elems, inline(pairs...))
		}
		uo.set("targets", list{elems: elems, multiline: true})
		upstreams.set(label(n), uo)
		im.counts["upstreams"]++
	}
	if !upstreams.empty() {
		out.set("upstreams", upstreams)
	}
	if tag != "" {
		// Plugins carrying the tag whose entity is not imported.
		for _, p := range live.plugins {
			if !slices.Contains(strs(p.Tags), tag) {
				continue
			}
			var owners []owner
			if p.Service != nil {
				owners = append(owners, owner{"service", str(p.Service.ID)})
			}
			if p.Route != nil {
				owners = append(owners, owner{"route", str(p.Route.ID)})
			}
			if p.Consumer != nil {
				owners = append(owners, owner{"consumer", str(p.Consumer.ID)})
			}
			switch {
			case len(owners) == 0:
				im.skip(out, "global plugin %s (id %s) carries the tag: a tenant's plugins are on its services, routes or consumers", q(str(p.Name)), q(str(p.ID)))
			case !slices.ContainsFunc(owners, func(o owner) bool { return imported[o] }):
				im.skip(out, "plugin %s (id %s) carries the tag but its entity is not imported", q(str(p.Name)), q(str(p.ID)))
			}
		}
	}
	im.opts.Progress("kong %s: %d services, %d routes, %d plugins, %d consumers, %d upstreams read; %d services, %d consumers, %d upstreams selected",
		gw, len(live.services), len(live.routes), len(live.plugins), len(live.consumers), len(live.upstreams),
		im.counts["services"], im.counts["consumers"], im.counts["upstreams"])
	if len(out.fields) == 1 {
		return nil, nil // nothing on the gateway
	}
	return out, nil
}

// route writes route r of service svc.
func (im *importer) route(routes *obj, r *gokong.Route, svc string, inPrefix func(string) bool, plugins func(*obj, string)) {
	n := str(r.Name)
	switch {
	case n == "":
		im.skip(routes, "a route of service %s has no name (paths %s): tenant routes are named", q(svc), strings.Join(quoteAll(strs(r.Paths)), ", "))
		return
	case !inPrefix(n):
		im.skip(routes, "route %s of service %s is outside tenant %s's prefix %s", q(n), q(svc), im.opts.Tenant, q(im.opts.Tenant+"-"))
		return
	}
	protos := strs(r.Protocols)
	for _, p := range protos {
		if !slices.Contains(routeProtocols, p) {
			im.skip(routes, "route %s: protocol %s is not one the tenant schema has", q(n), q(p))
			return
		}
	}
	ro := &obj{}
	ro.set("paths", strList(strs(r.Paths)))
	if m := strs(r.Methods); len(m) > 0 {
		ro.set("methods", strList(m))
	}
	if h := strs(r.Hosts); len(h) > 0 {
		ro.set("hosts", strList(h))
	}
	if len(protos) > 0 && !slices.Equal(protos, []string{"http", "https"}) {
		ro.set("protocols", strList(protos))
	}
	if !boolOr(r.StripPath, true) {
		ro.set("stripPath", lit("false"))
	}
	if boolOr(r.PreserveHost, false) {
		ro.set("preserveHost", lit("true"))
	}
	if len(r.Headers) > 0 {
		var hs []string
		for _, k := range slices.Sorted(maps.Keys(r.Headers)) {
			hs = append(hs, q(k)+"="+strings.Join(quoteAll(r.Headers[k]), "|"))
		}
		im.skip(ro, "route %s matches headers %s, which the tenant schema cannot say: imported without them", q(n), strings.Join(hs, ", "))
	}
	if len(r.SNIs)+len(r.Sources)+len(r.Destinations) > 0 {
		im.skip(ro, "route %s matches SNIs, sources or destinations, which the tenant schema cannot say: imported without them", q(n))
	}
	plugins(ro, n)
	routes.set(label(n), ro)
	im.counts["routes"]++
}

// serviceURL is the service's URL, the port left out when it is the
// scheme's.
func serviceURL(s *gokong.Service) string {
	proto, host, port := str(s.Protocol), str(s.Host), intOr(s.Port, 0)
	u := proto + "://" + host
	if def := map[string]int{"http": 80, "https": 443, "grpc": 80, "grpcs": 443}[proto]; port != 0 && port != def {
		u += ":" + strconv.Itoa(port)
	}
	return u + str(s.Path)
}
