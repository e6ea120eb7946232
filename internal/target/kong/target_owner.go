package kong

import (
	"context"
	"fmt"
	"slices"

	"github.com/kong/go-database-reconciler/pkg/dump"
	gokong "github.com/kong/go-kong/kong"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// holder is an entity on the gateway that holds a unique key a desired
// entity wants: tenant is the tenant its tags name ("" for none).
type holder struct{ tenant string }

// found says, for plan.NotOwned, whose the holder is as seen by tenant: an
// entity tagged for tenant itself holds the key only when the tenant's
// inventory does not list it.
func (h holder) found(tenant string) string {
	switch h.tenant {
	case "":
		return "without k3sync's tags"
	case tenant:
		return notInInventory
	}
	return "tagged for tenant " + h.tenant
}

// taken are the unique keys held on the gateway, by kind: service, route
// and upstream names, consumer usernames and custom IDs.
type taken struct {
	services, routes, upstreams, usernames, customIDs map[string]holder
}

// blockNotOwned finds the desired entities whose unique key an entity
// the tenant's inventory does not own already holds (someone else's,
// another tenant's, or one tagged for the tenant but not in its
// inventory, see claim): they are blocked (plan.NotOwned), and so is what
// hangs off them (routes and plugins of a service, targets of an
// upstream, ACL groups, plugins and key of a consumer, services pointing
// at an upstream). They leave the tenant's desired state, so the syncer
// neither diffs nor writes them. The keys are read only when some
// desired entity is missing from the tenant's own slice: one paged list
// per such kind, without the tag filter, all in flight at once; a plan
// where every desired entity is the tenant's sends none.
func (t *Target) blockNotOwned(ctx context.Context, s *session, tenants []*tenantPlan) error {
	need := map[string]bool{}
	for _, tp := range tenants {
		for kind := range missingKinds(tp) {
			need[kind] = true
		}
	}
	tk := &taken{map[string]holder{}, map[string]holder{}, map[string]holder{}, map[string]holder{}, map[string]holder{}}
	if len(need) > 0 {
		var err error
		if tk, err = t.readTaken(ctx, s, need); err != nil {
			return err
		}
	}
	for _, tp := range tenants {
		tp.blocked = t.notOwned(tp, tk)
	}
	return nil
}

// missingKinds lists the kinds of which tp desires an entity its own
// slice of the gateway lacks.
func missingKinds(tp *tenantPlan) map[string]bool {
	out := map[string]bool{}
	d := tp.desired
	if d == nil {
		return out
	}
	own := ownKeys(tp.live)
	for _, e := range d.Services {
		if !own.services[e.Name] {
			out[KindService] = true
		}
	}
	for _, e := range d.Routes {
		if !own.routes[e.Name] {
			out[KindRoute] = true
		}
	}
	for _, e := range d.Consumers {
		if !own.usernames[e.Username] || e.CustomID != "" && !own.customIDs[e.CustomID] {
			out[KindConsumer] = true
		}
	}
	for _, e := range d.Upstreams {
		if !own.upstreams[e.Name] {
			out[KindUpstream] = true
		}
	}
	return out
}

// ownKeys are the unique keys of the tenant's own entities.
type keySet struct {
	services, routes, upstreams, usernames, customIDs map[string]bool
}

func ownKeys(tl *tenantLive) keySet {
	ks := keySet{map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}}
	for _, e := range tl.raw.Services {
		ks.services[str(e.Name)] = true
	}
	for _, e := range tl.raw.Routes {
		ks.routes[str(e.Name)] = true
	}
	for _, e := range tl.raw.Upstreams {
		ks.upstreams[str(e.Name)] = true
	}
	for _, e := range tl.raw.Consumers {
		ks.usernames[str(e.Username)] = true
		ks.customIDs[str(e.CustomID)] = true
	}
	return ks
}

// readTaken lists the kinds in need without the tag filter.
func (t *Target) readTaken(ctx context.Context, s *session, need map[string]bool) (*taken, error) {
	tk := &taken{map[string]holder{}, map[string]holder{}, map[string]holder{}, map[string]holder{}, map[string]holder{}}
	var (
		services  []*gokong.Service
		routes    []*gokong.Route
		consumers []*gokong.Consumer
		upstreams []*gokong.Upstream
	)
	g, gctx := errgroup.WithContext(ctx)
	list := func(kind string, fn func() error) {
		if !need[kind] {
			return
		}
		g.Go(func() error {
			if err := fn(); err != nil {
				return fmt.Errorf("kong gateway %s: list every %s: %w", t.name, kind, err)
			}
			return nil
		})
	}
	list(KindService, func() (err error) { services, err = dump.GetAllServices(gctx, s.client, nil); return })
	list(KindRoute, func() (err error) { routes, err = dump.GetAllRoutes(gctx, s.client, nil); return })
	list(KindConsumer, func() (err error) { consumers, err = dump.GetAllConsumers(gctx, s.client, nil); return })
	list(KindUpstream, func() (err error) { upstreams, err = dump.GetAllUpstreams(gctx, s.client, nil); return })
	if err := g.Wait(); err != nil {
		return nil, err //nolint:wrapcheck // wrapped per kind above
	}
	for _, e := range services {
		tk.services[str(e.Name)] = holderOf(e.Tags)
	}
	for _, e := range routes {
		if e.Name != nil {
			tk.routes[*e.Name] = holderOf(e.Tags)
		}
	}
	for _, e := range consumers {
		if e.Username != nil {
			tk.usernames[*e.Username] = holderOf(e.Tags)
		}
		if e.CustomID != nil {
			tk.customIDs[*e.CustomID] = holderOf(e.Tags)
		}
	}
	for _, e := range upstreams {
		tk.upstreams[str(e.Name)] = holderOf(e.Tags)
	}
	return tk, nil
}

func holderOf(tags []*string) holder { return holder{tenant: tenantOf(tags)} }

// notOwned blocks the desired entities of tp whose unique key another
// entity holds, and what hangs off them, and removes them from a copy of
// tp's desired state. It returns the blocked changes.
func (t *Target) notOwned(tp *tenantPlan, tk *taken) []*item {
	d := tp.desired
	if d == nil {
		return nil
	}
	own := ownKeys(tp.live)
	var out []*item
	blocked := map[string]plan.Key{} // entityID → the key that blocks it
	block := func(kind, name, found string) {
		out = append(out, &item{change: plan.NotOwned(t.key(tp.tenant, kind, name), levels[kind], found)})
	}
	inside := func(kind, name string, parent plan.Key) {
		out = append(out, &item{change: plan.InsideNotOwned(t.key(tp.tenant, kind, name), levels[kind], parent)})
	}
	// held says who holds key, of kind ("" for a custom_id), when the
	// tenant does not own it.
	held := func(kind string, m map[string]holder, ownSet map[string]bool, key string) (string, bool) {
		if key == "" || ownSet[key] {
			return "", false
		}
		if kind != "" && tp.unowned[entityID(kind, key)] {
			return notInInventory, true
		}
		h, ok := m[key]
		return h.found(tp.tenant), ok
	}
	// unowned blocks a desired entity of the tenant's slice that its
	// inventory does not list (claim), unless its parent is blocked.
	unowned := func(kind, name string) bool {
		id := entityID(kind, name)
		if !tp.unowned[id] {
			return false
		}
		if _, done := blocked[id]; !done {
			block(kind, name, notInInventory)
			blocked[id] = t.key(tp.tenant, kind, name)
		}
		return true
	}

	for _, e := range d.Services {
		if found, ok := held(KindService, tk.services, own.services, e.Name); ok {
			block(KindService, e.Name, found)
			blocked[entityID(KindService, e.Name)] = t.key(tp.tenant, KindService, e.Name)
		}
	}
	for _, e := range d.Upstreams {
		if found, ok := held(KindUpstream, tk.upstreams, own.upstreams, e.Name); ok {
			block(KindUpstream, e.Name, found)
			up := t.key(tp.tenant, KindUpstream, e.Name)
			blocked[entityID(KindUpstream, e.Name)] = up
			for _, tg := range e.Targets {
				inside(KindTarget, e.Name+"/"+tg.Target, up)
				blocked[entityID(KindTarget, e.Name+"/"+tg.Target)] = up
			}
			continue
		}
		for _, tg := range e.Targets {
			unowned(KindTarget, e.Name+"/"+tg.Target)
		}
	}
	for _, e := range d.Services {
		// A new service sending traffic to someone else's upstream.
		if up, ok := blocked[entityID(KindUpstream, e.Host)]; ok && !own.services[e.Name] {
			if _, done := blocked[entityID(KindService, e.Name)]; !done {
				inside(KindService, e.Name, up)
				blocked[entityID(KindService, e.Name)] = up
			}
		}
	}
	for _, e := range d.Routes {
		found, ok := held(KindRoute, tk.routes, own.routes, e.Name)
		switch parent, inBlocked := blocked[entityID(KindService, e.Service)]; {
		case ok:
			block(KindRoute, e.Name, found)
			blocked[entityID(KindRoute, e.Name)] = t.key(tp.tenant, KindRoute, e.Name)
		case inBlocked:
			inside(KindRoute, e.Name, parent)
			blocked[entityID(KindRoute, e.Name)] = parent
		}
	}
	for _, e := range d.Consumers {
		found, ok := "", false
		if !own.usernames[e.Username] { // the tenant's: a custom_id taken since fails its update
			found, ok = held(KindConsumer, tk.usernames, own.usernames, e.Username)
			if !ok {
				found, ok = held("", tk.customIDs, own.customIDs, e.CustomID)
			}
		}
		if !ok {
			// The consumer is the tenant's, or is created: what hangs
			// off it is blocked only when it is not the tenant's.
			for _, g := range e.ACLGroups {
				unowned(KindACLGroup, e.Username+"/"+g)
			}
			if e.KeyAuth {
				unowned(KindCredential, e.Username+"/key-auth")
			}
			continue
		}
		block(KindConsumer, e.Username, found)
		c := t.key(tp.tenant, KindConsumer, e.Username)
		blocked[entityID(KindConsumer, e.Username)] = c
		for _, g := range e.ACLGroups {
			inside(KindACLGroup, e.Username+"/"+g, c)
			blocked[entityID(KindACLGroup, e.Username+"/"+g)] = c
		}
		if e.KeyAuth {
			inside(KindCredential, e.Username+"/key-auth", c)
			blocked[entityID(KindCredential, e.Username+"/key-auth")] = c
		}
	}
	for _, p := range d.Plugins {
		var parent plan.Key
		var ok bool
		switch {
		case p.Service != "":
			parent, ok = blocked[entityID(KindService, p.Service)]
		case p.Route != "":
			parent, ok = blocked[entityID(KindRoute, p.Route)]
		case p.Consumer != "":
			parent, ok = blocked[entityID(KindConsumer, p.Consumer)]
		}
		switch {
		case ok:
			inside(KindPlugin, pluginName(p), parent)
			blocked[entityID(KindPlugin, pluginName(p))] = parent
		default:
			unowned(KindPlugin, pluginName(p))
		}
	}
	if len(out) == 0 {
		return nil
	}
	kept := *d
	isBlocked := func(kind, name string) bool { _, ok := blocked[entityID(kind, name)]; return ok }
	kept.Services = slices.DeleteFunc(slices.Clone(d.Services), func(e render.KongService) bool { return isBlocked(KindService, e.Name) })
	kept.Routes = slices.DeleteFunc(slices.Clone(d.Routes), func(e render.KongRoute) bool { return isBlocked(KindRoute, e.Name) })
	kept.Consumers = make([]render.KongConsumer, 0, len(d.Consumers))
	for _, e := range d.Consumers {
		if isBlocked(KindConsumer, e.Username) {
			continue
		}
		e.ACLGroups = slices.DeleteFunc(slices.Clone(e.ACLGroups), func(g string) bool { return isBlocked(KindACLGroup, e.Username+"/"+g) })
		e.KeyAuth = e.KeyAuth && !isBlocked(KindCredential, e.Username+"/key-auth")
		kept.Consumers = append(kept.Consumers, e)
	}
	kept.Upstreams = make([]render.KongUpstream, 0, len(d.Upstreams))
	for _, e := range d.Upstreams {
		if isBlocked(KindUpstream, e.Name) {
			continue
		}
		e.Targets = slices.DeleteFunc(slices.Clone(e.Targets), func(tg render.KongTarget) bool { return isBlocked(KindTarget, e.Name+"/"+tg.Target) })
		kept.Upstreams = append(kept.Upstreams, e)
	}
	kept.Plugins = slices.DeleteFunc(slices.Clone(d.Plugins), func(p render.KongPlugin) bool { return isBlocked(KindPlugin, pluginName(p)) })
	tp.desired = &kept
	return out
}
