package kong

import (
	"context"
	"runtime"

	"github.com/kong/go-database-reconciler/pkg/diff"
	"github.com/kong/go-database-reconciler/pkg/dump"
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
// than the diff itself (docs/performance.md). It reports the tenants it
// diffed; the others are left as they were, to be diffed apart.
//
// Each tenant still gets exactly what its own diff would find: batches
// only run when the tenants' slices cannot meet. Every service, route,
// consumer and upstream (by name, custom ID or ID, desired or live) and
// every other live entity (by ID) belongs to one tenant, every reference
// stays within the tenant's own desired or live slice, and no plugin is
// global; then go-database-reconciler, which matches desired entities
// with live ones by those names and IDs, pairs each tenant's entities
// with its own only, and every action is the tenant's of its root entity.
// Anything else — a name two tenants use, an error in any tenant's
// desired state or diff, an action no tenant owns — and the batch's
// tenants are diffed apart, where each error lands on its own tenant.
// Only plans batch: the apply runs each tenant's syncer apart.
func (t *Target) diffBatch(ctx context.Context, s *session, tps []*tenantPlan) []bool {
	done := make([]bool, len(tps))
	if len(tps) < 2 || alwaysSync || !batchDiffs {
		return done
	}
	owners, ok := batchOwners(tps)
	if !ok {
		return done
	}
	// Batches of batchSize tenants, on every core: a batch's cost grows
	// with its size (its databases are deeper), and one batch would use
	// one core.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for lo := 0; lo < len(tps); lo += batchSize {
		hi := min(lo+batchSize, len(tps))
		g.Go(func() error {
			if t.diffTogether(gctx, s, tps[lo:hi], owners) {
				for i := lo; i < hi; i++ {
					done[i] = true
				}
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

// diffTogether diffs tenants in one syncer run (see diffBatch); false when
// it did not, having changed nothing.
func (t *Target) diffTogether(ctx context.Context, s *session, tps []*tenantPlan, owners owners) bool {
	merged := &file.Content{FormatVersion: "3.0"}
	liveRaw := &utils.KongRawState{}
	for _, tp := range tps {
		c, err := content(tp.desired)
		if err != nil {
			return false
		}
		merged.Services = append(merged.Services, c.Services...)
		merged.Plugins = append(merged.Plugins, c.Plugins...)
		merged.Consumers = append(merged.Consumers, c.Consumers...)
		merged.Upstreams = append(merged.Upstreams, c.Upstreams...)
		r := cloneRaw(&tp.live.raw)
		liveRaw.Services = append(liveRaw.Services, r.Services...)
		liveRaw.Routes = append(liveRaw.Routes, r.Routes...)
		liveRaw.Plugins = append(liveRaw.Plugins, r.Plugins...)
		liveRaw.Consumers = append(liveRaw.Consumers, r.Consumers...)
		liveRaw.ACLGroups = append(liveRaw.ACLGroups, r.ACLGroups...)
		liveRaw.Upstreams = append(liveRaw.Upstreams, r.Upstreams...)
		liveRaw.Targets = append(liveRaw.Targets, r.Targets...)
	}
	current, err := kstate.Get(liveRaw)
	if err != nil {
		return false
	}
	rc := s.render
	rc.CurrentState = current
	targetRaw, err := file.Get(ctx, merged, rc, dump.Config{}, s.client)
	if err != nil {
		return false
	}
	target, err := kstate.Get(targetRaw)
	if err != nil {
		return false
	}
	names, err := newNamer(current, target)
	if err != nil {
		return false
	}
	quiet := func(...any) {}
	syncer, err := diff.NewSyncer(diff.SyncerOpts{
		CurrentState: current, TargetState: target, KongClient: s.client,
		SilenceWarnings: true, EnableEntityActions: true,
		CreatePrintln: quiet, UpdatePrintln: quiet, DeletePrintln: quiet,
	})
	if err != nil {
		return false
	}
	var actions []diff.EntityAction
	done := make(chan struct{})
	go func() {
		defer close(done)
		for a := range syncer.GetResultChan() {
			actions = append(actions, a)
		}
	}()
	_, errs, _ := syncer.Solve(ctx, t.concurrency, true, false)
	<-done
	if len(errs) > 0 {
		return false
	}
	byTenant := map[string][]diff.EntityAction{}
	for _, a := range actions {
		if a.Error != nil {
			return false
		}
		tn := owners.of(entityOf(a))
		if tn == "" {
			return false
		}
		byTenant[tn] = append(byTenant[tn], a)
	}
	for _, tp := range tps {
		if err := t.planActions(tp, byTenant[tp.tenant], names); err != nil {
			for _, tp := range tps {
				tp.items = nil
			}
			return false
		}
	}
	t.diffs.Add(int64(len(tps)))
	t.batched.Add(int64(len(tps)))
	return true
}

// owners maps the entities of a batch to their tenant: kind/name and
// kind/ID of services, routes, consumers (and their custom IDs) and
// upstreams; kind/ID of the other live entities.
type owners map[string]string

// claim records key as the tenant's; false when another tenant has it.
func (o owners) claim(key, tenant string) bool {
	if prev, ok := o[key]; ok && prev != tenant {
		return false
	}
	o[key] = tenant
	return true
}

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

// batchOwners maps the batch's entities to their tenants, and reports
// false when the tenants' slices may meet (see diffBatch).
func batchOwners(tps []*tenantPlan) (owners, bool) {
	o := owners{}
	claim := func(tenant, kind string, keys ...*string) bool {
		for _, k := range keys {
			if k != nil && !o.claim(kind+"/"+*k, tenant) {
				return false
			}
		}
		return true
	}
	for _, tp := range tps {
		tn := tp.tenant
		// Desired: names, and references within the tenant's own.
		if d := tp.desired; d != nil {
			services, routes, consumers := map[string]bool{}, map[string]bool{}, map[string]bool{}
			for _, sv := range d.Services {
				services[sv.Name] = true
				if !claim(tn, KindService, &sv.Name) {
					return nil, false
				}
			}
			for _, r := range d.Routes {
				routes[r.Name] = true
				if !services[r.Service] || !claim(tn, KindRoute, &r.Name) {
					return nil, false
				}
			}
			for _, c := range d.Consumers {
				consumers[c.Username] = true
				if !claim(tn, KindConsumer, &c.Username) {
					return nil, false
				}
				if c.CustomID != "" && !claim(tn, KindConsumer, &c.CustomID) {
					return nil, false
				}
			}
			for _, u := range d.Upstreams {
				if !claim(tn, KindUpstream, &u.Name) {
					return nil, false
				}
			}
			for _, p := range d.Plugins {
				switch {
				case p.Service != "" && services[p.Service]:
				case p.Route != "" && routes[p.Route]:
				case p.Consumer != "" && consumers[p.Consumer]:
				default:
					return nil, false
				}
			}
		}
		// Live: names and IDs, and references within the tenant's slice.
		r := &tp.live.raw
		ids := map[string]bool{}
		for _, e := range r.Services {
			if !claim(tn, KindService, e.ID, e.Name) {
				return nil, false
			}
			ids[KindService+"/"+str(e.ID)] = true
		}
		for _, e := range r.Routes {
			if !claim(tn, KindRoute, e.ID, e.Name) {
				return nil, false
			}
			ids[KindRoute+"/"+str(e.ID)] = true
		}
		for _, e := range r.Consumers {
			if !claim(tn, KindConsumer, e.ID, e.Username, e.CustomID) {
				return nil, false
			}
			ids[KindConsumer+"/"+str(e.ID)] = true
		}
		for _, e := range r.Upstreams {
			if !claim(tn, KindUpstream, e.ID, e.Name) {
				return nil, false
			}
			ids[KindUpstream+"/"+str(e.ID)] = true
		}
		within := func(kind string, id *string) bool { return id != nil && ids[kind+"/"+*id] }
		for _, e := range r.Routes {
			if e.Service != nil && !within(KindService, e.Service.ID) {
				return nil, false
			}
		}
		for _, e := range r.Targets {
			if !claim(tn, KindTarget, e.ID) || e.Upstream == nil || !within(KindUpstream, e.Upstream.ID) {
				return nil, false
			}
		}
		for _, e := range r.ACLGroups {
			if !claim(tn, KindACLGroup, e.ID) || e.Consumer == nil || !within(KindConsumer, e.Consumer.ID) {
				return nil, false
			}
		}
		for _, e := range r.Plugins {
			if !claim(tn, KindPlugin, e.ID) || !pluginWithin(e, within) {
				return nil, false
			}
		}
	}
	return o, true
}

// pluginWithin reports whether a live plugin has exactly one parent and
// that parent is in the tenant's slice.
func pluginWithin(p *gokong.Plugin, within func(kind string, id *string) bool) bool {
	n := 0
	for _, ok := range []bool{p.Service != nil, p.Route != nil, p.Consumer != nil, p.ConsumerGroup != nil} {
		if ok {
			n++
		}
	}
	switch {
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
