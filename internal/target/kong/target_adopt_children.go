package kong

import (
	"context"
	"fmt"
	"slices"

	gokong "github.com/kong/go-kong/kong"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// ACL groups and upstream targets have no name of their own on the
// gateway: they are unique on their parent (a consumer's group, an
// upstream's host:port), and the tagged read sees only those carrying
// k3sync's tags. Kong refuses a duplicate with a 409, so one that exists
// on a parent of the tenant's slice (its own, or adopted) without being
// the tenant's is found before the diff: blockChildren lists the ACL
// groups of each such consumer and the targets of each such upstream,
// without the tag filter, only when a desired one is missing from the
// slice. A tenant that adopts takes it as it takes the other kinds
// (adoptions.refuse); any other tenant has it blocked (plan.NotOwned).

// childJob is one parent whose children are listed: a consumer (kind
// KindACLGroup) or an upstream (KindTarget) of a tenant's slice, with the
// desired children its slice lacks.
type childJob struct {
	tp      *tenantPlan
	kind    string
	parent  string // username or upstream name
	id      string // the parent's Kong ID
	missing []string
}

// missingChildren lists, per tenant, the consumers and upstreams of its
// slice (own or adopted) with a desired ACL group or target the slice
// lacks, that notOwned has not blocked.
func missingChildren(tenants []*tenantPlan) []childJob {
	var jobs []childJob
	for _, tp := range tenants {
		d := tp.desired
		if d == nil {
			continue
		}
		blocked := map[string]bool{}
		for _, it := range tp.blocked {
			blocked[entityID(it.change.Kind, it.change.Name)] = true
		}
		raw := &tp.live.raw
		consumers := map[string]string{} // username → ID
		for _, e := range raw.Consumers {
			consumers[str(e.Username)] = str(e.ID)
		}
		groups := map[string]bool{} // consumer ID/group
		for _, e := range raw.ACLGroups {
			if e.Consumer != nil {
				groups[str(e.Consumer.ID)+"/"+str(e.Group)] = true
			}
		}
		for _, c := range d.Consumers {
			id, ok := consumers[c.Username]
			if !ok {
				continue // created with the consumer
			}
			var missing []string
			for _, g := range c.ACLGroups {
				if !groups[id+"/"+g] && !blocked[entityID(KindACLGroup, c.Username+"/"+g)] {
					missing = append(missing, g)
				}
			}
			if len(missing) > 0 {
				jobs = append(jobs, childJob{tp: tp, kind: KindACLGroup, parent: c.Username, id: id, missing: missing})
			}
		}
		upstreams := map[string]string{}
		for _, e := range raw.Upstreams {
			upstreams[str(e.Name)] = str(e.ID)
		}
		targets := map[string]bool{} // upstream ID/target
		for _, e := range raw.Targets {
			if e.Upstream != nil {
				targets[str(e.Upstream.ID)+"/"+str(e.Target)] = true
			}
		}
		for _, u := range d.Upstreams {
			id, ok := upstreams[u.Name]
			if !ok {
				continue
			}
			var missing []string
			for _, tg := range u.Targets {
				if !targets[id+"/"+tg.Target] && !blocked[entityID(KindTarget, u.Name+"/"+tg.Target)] {
					missing = append(missing, tg.Target)
				}
			}
			if len(missing) > 0 {
				jobs = append(jobs, childJob{tp: tp, kind: KindTarget, parent: u.Name, id: id, missing: missing})
			}
		}
	}
	return jobs
}

// blockChildren finds the desired ACL groups and targets that exist on a
// parent of the tenant's slice without being the tenant's: one paged list
// per such parent, all in flight at once (bounded by the gateway's
// concurrency). A tenant that adopts takes each one ad allows into its
// slice, recorded in tp.adopted, so that the diff sets k3sync's tags; the
// others are blocked and leave the tenant's desired state.
func (t *Target) blockChildren(ctx context.Context, s *session, tenants []*tenantPlan, ad *adoptions) error {
	jobs := missingChildren(tenants)
	if len(jobs) == 0 {
		return nil
	}
	found := make([][]any, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.concurrency)
	for i, j := range jobs {
		g.Go(func() error {
			opt := &gokong.ListOpt{Size: 1000}
			for opt != nil {
				var next *gokong.ListOpt
				var err error
				switch j.kind {
				case KindACLGroup:
					var page []*gokong.ACLGroup
					page, next, err = s.client.ACLs.ListForConsumer(gctx, gokong.String(j.id), opt)
					for _, e := range page {
						found[i] = append(found[i], e)
					}
				default:
					var page []*gokong.Target
					page, next, err = s.client.Targets.List(gctx, gokong.String(j.id), opt)
					for _, e := range page {
						found[i] = append(found[i], e)
					}
				}
				if err != nil {
					what := "consumer " + j.parent + ": list ACL groups"
					if j.kind == KindTarget {
						what = "upstream " + j.parent + ": list targets"
					}
					return fmt.Errorf("kong gateway %s: %s: %w", t.name, what, err)
				}
				opt = next
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err //nolint:wrapcheck // wrapped above
	}
	blocked := map[*tenantPlan]map[string]bool{}
	for i, j := range jobs {
		for _, want := range j.missing {
			h, ok := childHolder(j, found[i], want)
			if !ok {
				continue // created
			}
			name := j.parent + "/" + want
			found := h.found(j.tp.tenant)
			if j.tp.adopts {
				why := ad.refuse(j.tp.tenant, j.kind, name, h)
				if why == "" {
					adoptChild(j.tp, ad, j.kind, name, found, h)
					continue
				}
				found = why
			}
			j.tp.blocked = append(j.tp.blocked, &item{change: plan.NotOwned(t.key(j.tp.tenant, j.kind, name), levels[j.kind], found)})
			if blocked[j.tp] == nil {
				blocked[j.tp] = map[string]bool{}
			}
			blocked[j.tp][entityID(j.kind, name)] = true
		}
	}
	for tp, ids := range blocked {
		dropChildren(tp, ids)
	}
	return nil
}

// childHolder finds, among the children listed for j, the one named want.
func childHolder(j childJob, listed []any, want string) (holder, bool) {
	for _, e := range listed {
		switch c := e.(type) {
		case *gokong.ACLGroup:
			if str(c.Group) == want {
				return holderOf(c.Tags, c.ID, c), true
			}
		case *gokong.Target:
			if str(c.Target) == want {
				return holderOf(c.Tags, c.ID, c), true
			}
		}
	}
	return holder{}, false
}

// adoptChild adds the adopted ACL group or target to the tenant's slice,
// a copy as listed, and records it as pending.commit does. Kong's PATCH
// updates a target in place but go-database-reconciler replaces it
// (delete, then create): a target whose tags alone differ joins the slice
// with k3sync's tags, so that the syncer leaves it alone, and the apply
// sets them itself (retagTarget); one whose weight differs too is
// replaced by the syncer, with the tags.
func adoptChild(tp *tenantPlan, ad *adoptions, kind, name, found string, h holder) {
	raw := &tp.live.raw
	switch e := h.entity.(type) {
	case *gokong.ACLGroup:
		raw.ACLGroups = append(raw.ACLGroups, e.DeepCopy())
	case *gokong.Target:
		c := e.DeepCopy()
		want := render.Tags(tp.tenant)
		got := make([]string, len(c.Tags))
		for i, p := range c.Tags {
			got[i] = str(p)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) && c.Upstream != nil {
			if tp.retag == nil {
				tp.retag = map[string]retagTarget{}
			}
			tp.retag[entityID(kind, name)] = retagTarget{upstream: str(c.Upstream.ID), id: str(c.ID)}
			c.Tags = ptrs(render.Tags(tp.tenant))
		}
		raw.Targets = append(raw.Targets, c)
	default:
		return
	}
	if tp.adopted == nil {
		tp.adopted = map[string]string{}
	}
	tp.adopted[entityID(kind, name)] = found
	ad.claimed[h.id] = tp.tenant
}

// dropChildren removes the blocked ACL groups and targets ids from a copy
// of the tenant's desired state.
func dropChildren(tp *tenantPlan, ids map[string]bool) {
	d := *tp.desired
	d.Consumers = make([]render.KongConsumer, len(tp.desired.Consumers))
	for i, c := range tp.desired.Consumers {
		c.ACLGroups = slices.DeleteFunc(slices.Clone(c.ACLGroups), func(g string) bool { return ids[entityID(KindACLGroup, c.Username+"/"+g)] })
		d.Consumers[i] = c
	}
	d.Upstreams = make([]render.KongUpstream, len(tp.desired.Upstreams))
	for i, u := range tp.desired.Upstreams {
		u.Targets = slices.DeleteFunc(slices.Clone(u.Targets), func(tg render.KongTarget) bool { return ids[entityID(KindTarget, u.Name+"/"+tg.Target)] })
		d.Upstreams[i] = u
	}
	tp.desired = &d
}

// retagTarget is an adopted target whose tags the apply sets: the Kong
// IDs of its upstream and of itself.
type retagTarget struct {
	upstream, id string
}

// retag sets k3sync's tags on an adopted target with Kong's PATCH, which
// keeps it (its ID, address and weight) in the upstream's balancer.
func retag(ctx context.Context, s *session, tenant string, rt retagTarget, it *item) {
	if _, err := s.client.Targets.Update(ctx, gokong.String(rt.upstream), gokong.String(rt.id), &gokong.Target{Tags: ptrs(render.Tags(tenant))}); err != nil {
		it.err = fmt.Errorf("kong target %s: adopt: %w", it.change.Name, err)
		return
	}
	it.done = true
}
