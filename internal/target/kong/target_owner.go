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
// entity wants: tenant is the tenant its tags name ("" for none), marks
// every tenant a k3sync-tenant: tag of it names (with or without the
// k3sync tag), id its Kong ID and entity the entity as listed (a
// *gokong.Service, *gokong.Route, *gokong.Consumer, *gokong.Upstream or
// *gokong.Plugin), which adoption takes into the tenant's slice.
type holder struct {
	tenant string
	marks  []string
	id     string
	entity any
}

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
	// plugins are every plugin on the gateway, read only when a tenant
	// that adopts desires a plugin its slice lacks.
	plugins []*gokong.Plugin
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
//
// A tenant that adopts (policies.adopt) takes such an entity instead,
// when no other tenant's inventory (owners, every tenant's of the
// gateway) holds it and no tag marks it for another tenant (see adopt).
func (t *Target) blockNotOwned(ctx context.Context, s *session, tenants []*tenantPlan, owners map[string][]string) error {
	need := map[string]bool{}
	for _, tp := range tenants {
		for kind := range missingKinds(tp) {
			need[kind] = true
		}
		if tp.adopts && missingPlugins(tp) {
			need[KindPlugin] = true
		}
	}
	tk := &taken{services: map[string]holder{}, routes: map[string]holder{}, upstreams: map[string]holder{}, usernames: map[string]holder{}, customIDs: map[string]holder{}}
	if len(need) > 0 {
		var err error
		if tk, err = t.readTaken(ctx, s, need); err != nil {
			return err
		}
	}
	ad := &adoptions{owners: owners, claimed: map[string]string{}}
	for _, tp := range tenants {
		tp.blocked = t.notOwned(tp, tk, ad)
	}
	if err := t.blockChildren(ctx, s, tenants, ad); err != nil {
		return err
	}
	return t.readAdoptedKeys(ctx, s, tenants)
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
	tk := &taken{services: map[string]holder{}, routes: map[string]holder{}, upstreams: map[string]holder{}, usernames: map[string]holder{}, customIDs: map[string]holder{}}
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
	list(KindPlugin, func() (err error) { tk.plugins, err = dump.GetAllPlugins(gctx, s.client, nil); return })
	if err := g.Wait(); err != nil {
		return nil, err //nolint:wrapcheck // wrapped per kind above
	}
	for _, e := range services {
		tk.services[str(e.Name)] = holderOf(e.Tags, e.ID, e)
	}
	for _, e := range routes {
		if e.Name != nil {
			tk.routes[*e.Name] = holderOf(e.Tags, e.ID, e)
		}
	}
	for _, e := range consumers {
		if e.Username != nil {
			tk.usernames[*e.Username] = holderOf(e.Tags, e.ID, e)
		}
		if e.CustomID != nil {
			tk.customIDs[*e.CustomID] = holderOf(e.Tags, e.ID, e)
		}
	}
	for _, e := range upstreams {
		tk.upstreams[str(e.Name)] = holderOf(e.Tags, e.ID, e)
	}
	return tk, nil
}

func holderOf(tags []*string, id *string, entity any) holder {
	return holder{tenant: tenantOf(tags), marks: tenantMarks(tags), id: str(id), entity: entity}
}

// notOwned blocks the desired entities of tp whose unique key another
// entity holds, and what hangs off them, and removes them from a copy of
// tp's desired state. It returns the blocked changes. A tenant that adopts
// takes such an entity instead when ad allows it (adoptions.refuse): the
// entity joins the tenant's slice of the gateway, so that the diff
// updates it (tags and the fields that differ from Git), and what hangs
// off it is planned as usual.
func (t *Target) notOwned(tp *tenantPlan, tk *taken, ad *adoptions) []*item {
	d := tp.desired
	if d == nil {
		return nil
	}
	own := ownKeys(tp.live)
	var out []*item
	blocked := map[string]plan.Key{} // entityID → the key that blocks it
	pend := newPending()
	block := func(kind, name, found string) {
		out = append(out, &item{change: plan.NotOwned(t.key(tp.tenant, kind, name), levels[kind], found)})
		blocked[entityID(kind, name)] = t.key(tp.tenant, kind, name)
	}
	inside := func(kind, name string, parent plan.Key) {
		out = append(out, &item{change: plan.InsideNotOwned(t.key(tp.tenant, kind, name), levels[kind], parent)})
		blocked[entityID(kind, name)] = parent
	}
	// held says who holds key, of kind ("" for a custom_id), when the
	// tenant does not own it, and returns the holder.
	held := func(kind string, m map[string]holder, ownSet map[string]bool, key string) (string, holder, bool) {
		if key == "" || ownSet[key] {
			return "", holder{}, false
		}
		h, ok := m[key]
		if kind != "" && tp.unowned[entityID(kind, key)] {
			return notInInventory, h, true
		}
		return h.found(tp.tenant), h, ok
	}
	// take adopts the held entity when the tenant adopts and nothing
	// forbids it, else blocks it; it reports whether it adopted.
	take := func(kind, name, found string, h holder, why string) bool {
		if tp.adopts && h.entity != nil {
			if why == "" {
				why = ad.refuse(tp.tenant, kind, name, h)
			}
			if why == "" {
				pend.add(kind, name, found, h)
				return true
			}
			found = why
		}
		block(kind, name, found)
		return false
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
		}
		return true
	}
	// liveID is the Kong ID of an entity of the tenant's slice, or of one
	// it adopts; "" for none.
	liveID := func(kind, name string) string {
		if id := pend.id(kind, name); id != "" {
			return id
		}
		return ownID(tp.live, kind, name)
	}

	for _, e := range d.Services {
		if found, h, ok := held(KindService, tk.services, own.services, e.Name); ok {
			take(KindService, e.Name, found, h, "")
		}
	}
	for _, e := range d.Upstreams {
		if found, h, ok := held(KindUpstream, tk.upstreams, own.upstreams, e.Name); ok && !take(KindUpstream, e.Name, found, h, "") {
			up := t.key(tp.tenant, KindUpstream, e.Name)
			for _, tg := range e.Targets {
				inside(KindTarget, e.Name+"/"+tg.Target, up)
			}
			continue
		}
		if !tp.adopts { // else blockChildren adopts them
			for _, tg := range e.Targets {
				unowned(KindTarget, e.Name+"/"+tg.Target)
			}
		}
	}
	for _, e := range d.Services {
		// A new service sending traffic to someone else's upstream.
		if up, ok := blocked[entityID(KindUpstream, e.Host)]; ok && !own.services[e.Name] {
			if _, done := blocked[entityID(KindService, e.Name)]; !done {
				pend.drop(KindService, e.Name)
				inside(KindService, e.Name, up)
			}
		}
	}
	for _, e := range d.Routes {
		found, h, ok := held(KindRoute, tk.routes, own.routes, e.Name)
		switch parent, inBlocked := blocked[entityID(KindService, e.Service)]; {
		case ok && !inBlocked:
			// A route is adopted only off a service of the tenant (or
			// none): adopting it must not take it from another's.
			why := ""
			if r, isRoute := h.entity.(*gokong.Route); isRoute && r.Service != nil && !slices.Contains(tenantServiceIDs(tp, pend), str(r.Service.ID)) {
				why = "on a service that is not the tenant's"
			}
			take(KindRoute, e.Name, found, h, why)
		case ok:
			block(KindRoute, e.Name, found)
		case inBlocked:
			inside(KindRoute, e.Name, parent)
		}
	}
	for _, e := range d.Consumers {
		found, h, ok := "", holder{}, false
		adopted := false
		if !own.usernames[e.Username] { // the tenant's: a custom_id taken since fails its update
			found, h, ok = held(KindConsumer, tk.usernames, own.usernames, e.Username)
			switch {
			case ok:
				// Adopted only when no other consumer holds its custom_id.
				why := ""
				if c, taken := tk.customIDs[e.CustomID]; e.CustomID != "" && taken && c.id != h.id {
					why = "another consumer holds its custom_id " + e.CustomID
				}
				adopted = take(KindConsumer, e.Username, found, h, why)
			default:
				// Held by custom_id only: another consumer, never adopted.
				if found, _, ok = held("", tk.customIDs, own.customIDs, e.CustomID); ok {
					block(KindConsumer, e.Username, found)
				}
			}
		}
		if !ok || adopted {
			// The consumer is the tenant's, is adopted, or is created:
			// what hangs off it is blocked only when it is not the
			// tenant's. An adopted consumer's key-auth credential is
			// adopted with it (readAdoptedKeys).
			for _, g := range e.ACLGroups {
				if !tp.adopts { // else blockChildren adopts them
					unowned(KindACLGroup, e.Username+"/"+g)
				}
			}
			if e.KeyAuth && !adopted {
				unowned(KindCredential, e.Username+"/key-auth")
			}
			continue
		}
		c := t.key(tp.tenant, KindConsumer, e.Username)
		for _, g := range e.ACLGroups {
			inside(KindACLGroup, e.Username+"/"+g, c)
		}
		if e.KeyAuth {
			inside(KindCredential, e.Username+"/key-auth", c)
		}
	}
	for _, p := range d.Plugins {
		var parent plan.Key
		var ok bool
		switch {
		case p.Service != "" && p.Consumer != "":
			if parent, ok = blocked[entityID(KindService, p.Service)]; !ok {
				parent, ok = blocked[entityID(KindConsumer, p.Consumer)]
			}
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
		case tp.adopts:
			if h, found := livePlugin(tp, tk, p, liveID); h.entity != nil {
				take(KindPlugin, pluginName(p), found, h, "")
				continue
			}
			unowned(KindPlugin, pluginName(p))
		default:
			unowned(KindPlugin, pluginName(p))
		}
	}
	pend.commit(tp, ad, blocked)
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
