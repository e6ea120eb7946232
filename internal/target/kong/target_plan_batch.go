package kong

import (
	"context"
	"runtime"

	"github.com/kong/go-database-reconciler/pkg/file"
	kstate "github.com/kong/go-database-reconciler/pkg/state"
	"github.com/kong/go-database-reconciler/pkg/utils"
	gokong "github.com/kong/go-kong/kong"
	"golang.org/x/sync/errgroup"
)

// diffBatch diffs the tenants of a plan in batches of batchSize, one
// go-database-reconciler syncer run per batch (diffTogether), as decK
// diffs a whole gateway: one live state of the batch's tenants' slices,
// one desired state of their Git (one file.Get, one defaulter), one diff.
// Diffing each tenant apart builds those per tenant, which costs more
// than the diff itself (docs/performance.md). It reports the tenants a
// batch found with nothing to do; the others are left as they were, to be
// diffed apart.
//
// A batch only ever concludes that a tenant has nothing to do: a tenant
// it finds a change for is diffed apart, so every planned change, and
// every write an apply makes of a plan, comes from the tenant's own diff.
// And a tenant only joins a batch when its slice cannot meet another's
// (batchOwners): every service, route, consumer and upstream (by name,
// custom ID or ID, desired or live) and every other live entity (by ID)
// belongs to it alone, every reference stays within its own desired or
// live slice, and none of its plugins is global. go-database-reconciler,
// which matches desired entities with live ones by those names and IDs,
// then pairs each tenant's entities with its own only, and every action
// is the tenant's of its root entity. A tenant whose slice may meet
// another's is diffed apart, and so is the other; a batch with an error
// in any tenant's desired state or diff, or an action no tenant owns,
// leaves all its tenants to be diffed apart, where each error lands on
// its own tenant. Only plans batch: an apply diffs each tenant apart.
func (t *Target) diffBatch(ctx context.Context, s *session, tps []*tenantPlan) []bool {
	done := make([]bool, len(tps))
	if alwaysSync || !batchDiffs {
		return done
	}
	owners, alone := batchOwners(tps)
	var in []int // indexes in tps of the tenants that may batch
	for i, tp := range tps {
		if !alone[tp.tenant] {
			in = append(in, i)
		}
	}
	if len(in) < 2 {
		return done
	}
	// Batches of batchSize tenants, on every core: a batch's cost grows
	// with its size (its databases are deeper), and one batch would use
	// one core.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for lo := 0; lo < len(in); lo += batchSize {
		batch := in[lo:min(lo+batchSize, len(in))]
		g.Go(func() error {
			members := make([]*tenantPlan, len(batch))
			for j, i := range batch {
				members[j] = tps[i]
			}
			for j, clean := range t.diffTogether(gctx, s, members, owners) {
				done[batch[j]] = clean
			}
			return nil
		})
	}
	_ = g.Wait() // a batch that fails is diffed tenant by tenant
	return done
}

// batchDiffs lets plans diff tenants in batches; tests turn it off to
// compare with tenant by tenant diffs.
var batchDiffs = true

// batchSize is the number of tenants diffBatch diffs in one syncer run.
const batchSize = 64

// diffTogether diffs tenants in one syncer run (see diffBatch) and
// reports, for each, whether the run found it with nothing to do and
// planned it so (its adoptions and credentials, as a diff apart would).
// The other tenants are left unchanged.
func (t *Target) diffTogether(ctx context.Context, s *session, tps []*tenantPlan, owners owners) []bool {
	clean := make([]bool, len(tps))
	merged := &file.Content{FormatVersion: "3.0"}
	liveRaw := &utils.KongRawState{}
	for _, tp := range tps {
		c, err := content(tp.desired)
		if err != nil {
			return clean
		}
		merged.Services = append(merged.Services, c.Services...)
		merged.Plugins = append(merged.Plugins, c.Plugins...)
		merged.Consumers = append(merged.Consumers, c.Consumers...)
		merged.Upstreams = append(merged.Upstreams, c.Upstreams...)
		appendRaw(liveRaw, &tp.live.raw)
	}
	current, err := kstate.Get(liveRaw)
	if err != nil {
		return clean
	}
	target, err := t.targetState(ctx, s, merged, current)
	if err != nil {
		return clean
	}
	actions, errs, err := t.runSyncer(ctx, s, current, target, true, false)
	if err != nil || len(errs) > 0 {
		return clean
	}
	acted := map[string]bool{}
	for _, a := range actions {
		tn := owners.of(entityOf(a))
		if a.Error != nil || tn == "" {
			return clean
		}
		acted[tn] = true
	}
	n := 0
	for i, tp := range tps {
		if acted[tp.tenant] {
			continue // diffed apart: its changes come from its own diff
		}
		if err := t.planActions(tp, nil, nil); err != nil {
			tp.items = nil
			continue
		}
		clean[i] = true
		n++
	}
	t.diffs.Add(int64(n))
	t.batched.Add(int64(n))
	return clean
}

// owners maps the entities of a batch to their tenant: kind/name and
// kind/ID of services, routes, consumers (and their custom IDs) and
// upstreams; kind/ID of the other live entities.
type owners map[string]string

// root is the tenant of the entity kind with id or name: "" when neither
// is known or they belong to different tenants.
func (o owners) root(kind string, id, name *string) string {
	var byID, byName string
	if id != nil {
		byID = o[kind+"/"+*id]
	}
	if name != nil {
		byName = o[kind+"/"+*name]
	}
	switch {
	case byID != "" && byName != "" && byID != byName:
		return ""
	case byID != "":
		return byID
	}
	return byName
}

// of is the tenant of an entity of a go-database-reconciler state: that
// of its root service, route, consumer or upstream.
func (o owners) of(obj any) string {
	switch e := obj.(type) {
	case *kstate.Service:
		return o.root(KindService, e.ID, e.Name)
	case *kstate.Route:
		return o.root(KindRoute, e.ID, e.Name)
	case *kstate.Consumer:
		return o.root(KindConsumer, e.ID, e.Username)
	case *kstate.Upstream:
		return o.root(KindUpstream, e.ID, e.Name)
	case *kstate.Target:
		if e.Upstream == nil {
			return ""
		}
		return o.root(KindUpstream, e.Upstream.ID, e.Upstream.Name)
	case *kstate.ACLGroup:
		if e.Consumer == nil {
			return ""
		}
		return o.root(KindConsumer, e.Consumer.ID, e.Consumer.Username)
	case *kstate.Plugin:
		switch p := &e.Plugin; {
		case p.Service != nil:
			return o.root(KindService, p.Service.ID, p.Service.Name)
		case p.Route != nil:
			return o.root(KindRoute, p.Route.ID, p.Route.Name)
		case p.Consumer != nil:
			return o.root(KindConsumer, p.Consumer.ID, p.Consumer.Username)
		}
	}
	return ""
}

// batchOwners maps the entities of the tenants to their tenants, and
// returns the tenants whose slices may meet another's, or reference what
// is not theirs (see diffBatch): those are diffed apart. Two tenants that
// claim the same key are both.
func batchOwners(tps []*tenantPlan) (owners, map[string]bool) {
	o := owners{}
	alone := map[string]bool{}
	for _, tp := range tps {
		tn := tp.tenant
		claim := func(kind string, keys ...*string) {
			for _, k := range keys {
				if k == nil {
					continue
				}
				if prev, ok := o[kind+"/"+*k]; ok && prev != tn {
					alone[prev], alone[tn] = true, true
					continue
				}
				o[kind+"/"+*k] = tn
			}
		}
		// Desired: names, and references within the tenant's own.
		if d := tp.desired; d != nil {
			services, routes, consumers := map[string]bool{}, map[string]bool{}, map[string]bool{}
			for _, sv := range d.Services {
				services[sv.Name] = true
				claim(KindService, &sv.Name)
			}
			for _, r := range d.Routes {
				routes[r.Name] = true
				claim(KindRoute, &r.Name)
				if !services[r.Service] {
					alone[tn] = true
				}
			}
			for _, c := range d.Consumers {
				consumers[c.Username] = true
				claim(KindConsumer, &c.Username)
				if c.CustomID != "" {
					claim(KindConsumer, &c.CustomID)
				}
			}
			for _, u := range d.Upstreams {
				claim(KindUpstream, &u.Name)
			}
			for _, p := range d.Plugins {
				switch {
				case p.Service != "" && services[p.Service] && (p.Consumer == "" || consumers[p.Consumer]):
				case p.Route != "" && routes[p.Route]:
				case p.Consumer != "" && consumers[p.Consumer]:
				default:
					alone[tn] = true
				}
			}
		}
		// Live: names and IDs, and references within the tenant's slice.
		r := &tp.live.raw
		ids := liveIDs(r)
		for _, e := range r.Services {
			claim(KindService, e.ID, e.Name)
		}
		for _, e := range r.Routes {
			claim(KindRoute, e.ID, e.Name)
		}
		for _, e := range r.Consumers {
			claim(KindConsumer, e.ID, e.Username, e.CustomID)
		}
		for _, e := range r.Upstreams {
			claim(KindUpstream, e.ID, e.Name)
		}
		within := func(kind string, id *string) bool { return id != nil && ids[kind+"/"+*id] }
		for _, e := range r.Routes {
			if e.Service != nil && !within(KindService, e.Service.ID) {
				alone[tn] = true
			}
		}
		for _, e := range r.Targets {
			claim(KindTarget, e.ID)
			if e.ID == nil || e.Upstream == nil || !within(KindUpstream, e.Upstream.ID) {
				alone[tn] = true
			}
		}
		for _, e := range r.ACLGroups {
			claim(KindACLGroup, e.ID)
			if e.ID == nil || e.Consumer == nil || !within(KindConsumer, e.Consumer.ID) {
				alone[tn] = true
			}
		}
		for _, e := range r.Plugins {
			claim(KindPlugin, e.ID)
			if e.ID == nil || !pluginWithin(e, within) {
				alone[tn] = true
			}
		}
	}
	return o, alone
}

// pluginWithin reports whether a live plugin has exactly one parent, or a
// service and a consumer (a consumer's plugin, as k3sync sets it), and
// those parents are in the tenant's slice.
func pluginWithin(p *gokong.Plugin, within func(kind string, id *string) bool) bool {
	n := 0
	for _, ok := range []bool{p.Service != nil, p.Route != nil, p.Consumer != nil, p.ConsumerGroup != nil} {
		if ok {
			n++
		}
	}
	switch {
	case n == 2 && p.Service != nil && p.Consumer != nil:
		return within(KindService, p.Service.ID) && within(KindConsumer, p.Consumer.ID)
	case n != 1:
		return false
	case p.Service != nil:
		return within(KindService, p.Service.ID)
	case p.Route != nil:
		return within(KindRoute, p.Route.ID)
	case p.Consumer != nil:
		return within(KindConsumer, p.Consumer.ID)
	}
	return false
}
