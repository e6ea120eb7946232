package kong

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	gokong "github.com/kong/go-kong/kong"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// Adoption (policies.adopt): a desired entity that exists and that no
// tenant owns is taken into the tenant's inventory instead of blocked.
// notOwned decides, per entity, between adopting and blocking; the
// adopted entities join the tenant's slice of the gateway, so that the
// diff sees them as the tenant's current state and its update sets
// k3sync's tags and the fields that differ from Git; diffTenant labels
// those changes plan.Adopt (one with no field when only the tags, or
// nothing, differ), and the apply writes a placeholder ahead of them as
// of a create.

// adoptions is what the adoptions of one plan share across its tenants:
// owners maps every entity ID to the tenants whose inventory on the
// gateway holds it (every tenant's, not only those in scope), claimed maps
// the Kong ID of every entity adopted so far in the plan to its tenant.
type adoptions struct {
	owners  map[string][]string
	claimed map[string]string
}

// refuse returns why tenant may not adopt the entity h holding the unique
// key of the desired entity kind/name, or "" when it may: an adoption
// never takes what another tenant's inventory holds, what a tag marks
// for another tenant, or what another tenant adopts in the same plan.
func (ad *adoptions) refuse(tenant, kind, name string, h holder) string {
	for _, o := range ad.owners[entityID(kind, name)] {
		if o != tenant {
			return "in the inventory of tenant " + o
		}
	}
	for _, m := range h.marks {
		if m != tenant {
			return "tagged for tenant " + m
		}
	}
	if o, ok := ad.claimed[h.id]; ok && o != tenant {
		return "adopted by tenant " + o + " in the same plan"
	}
	return ""
}

// pending are the adoptions notOwned decided for one tenant, in order;
// commit takes those whose entity was not blocked afterwards.
type pending struct {
	order []string
	byID  map[string]adopted
}

// adopted is one entity a tenant adopts.
type adopted struct {
	kind, name, found string
	h                 holder
}

func newPending() *pending { return &pending{byID: map[string]adopted{}} }

func (p *pending) add(kind, name, found string, h holder) {
	id := entityID(kind, name)
	if _, ok := p.byID[id]; !ok {
		p.order = append(p.order, id)
	}
	p.byID[id] = adopted{kind: kind, name: name, found: found, h: h}
}

func (p *pending) drop(kind, name string) { delete(p.byID, entityID(kind, name)) }

// id is the Kong ID of the adopted entity kind/name; "" for none.
func (p *pending) id(kind, name string) string { return p.byID[entityID(kind, name)].h.id }

// commit adds the adopted entities that were not blocked to the tenant's
// slice of the gateway, copies of the entities as listed, and records
// them in tp.adopted (entity ID → what was found) and in ad.claimed.
func (p *pending) commit(tp *tenantPlan, ad *adoptions, blocked map[string]plan.Key) {
	raw := &tp.live.raw
	for _, id := range p.order {
		a, ok := p.byID[id]
		if _, isBlocked := blocked[id]; !ok || isBlocked {
			continue
		}
		switch e := a.h.entity.(type) {
		case *gokong.Service:
			raw.Services = append(raw.Services, e.DeepCopy())
		case *gokong.Route:
			raw.Routes = append(raw.Routes, e.DeepCopy())
		case *gokong.Consumer:
			raw.Consumers = append(raw.Consumers, e.DeepCopy())
		case *gokong.Upstream:
			raw.Upstreams = append(raw.Upstreams, e.DeepCopy())
		case *gokong.Plugin:
			raw.Plugins = append(raw.Plugins, e.DeepCopy())
		default:
			continue
		}
		if tp.adopted == nil {
			tp.adopted = map[string]string{}
		}
		tp.adopted[id] = a.found
		ad.claimed[a.h.id] = tp.tenant
	}
}

// tenantMarks are the tenants the k3sync-tenant: tags of an entity name,
// with or without the k3sync tag.
func tenantMarks(tags []*string) []string {
	var out []string
	for _, p := range tags {
		if tn, ok := strings.CutPrefix(str(p), render.TagTenantPref); ok {
			out = append(out, tn)
		}
	}
	return out
}

// ownID is the Kong ID of the entity kind/name of the tenant's slice;
// "" for none.
func ownID(tl *tenantLive, kind, name string) string {
	switch kind {
	case KindService:
		for _, e := range tl.raw.Services {
			if str(e.Name) == name {
				return str(e.ID)
			}
		}
	case KindRoute:
		for _, e := range tl.raw.Routes {
			if str(e.Name) == name {
				return str(e.ID)
			}
		}
	case KindConsumer:
		for _, e := range tl.raw.Consumers {
			if str(e.Username) == name {
				return str(e.ID)
			}
		}
	}
	return ""
}

// tenantServiceIDs are the IDs of the services of the tenant's slice and
// of those it adopts.
func tenantServiceIDs(tp *tenantPlan, p *pending) []string {
	var out []string
	for _, e := range tp.live.raw.Services {
		out = append(out, str(e.ID))
	}
	for _, a := range p.byID {
		if a.kind == KindService {
			out = append(out, a.h.id)
		}
	}
	return out
}

// slicePluginNames names the plugins of the tenant's slice as pluginName
// does, and returns their IDs.
func slicePluginNames(tl *tenantLive) (names map[string]bool, ids map[string]bool) {
	n := &namer{names: map[string]string{}}
	for _, e := range tl.raw.Services {
		n.add(e.ID, e.Name)
	}
	for _, e := range tl.raw.Routes {
		n.add(e.ID, e.Name)
	}
	for _, e := range tl.raw.Consumers {
		n.add(e.ID, e.Username)
	}
	names, ids = map[string]bool{}, map[string]bool{}
	for _, e := range tl.raw.Plugins {
		names[n.pluginName(e)] = true
		ids[str(e.ID)] = true
	}
	return names, ids
}

// missingPlugins reports whether tp desires a plugin its slice lacks:
// a tenant that adopts may then find it on the gateway.
func missingPlugins(tp *tenantPlan) bool {
	if tp.desired == nil {
		return false
	}
	names, _ := slicePluginNames(tp.live)
	return slices.ContainsFunc(tp.desired.Plugins, func(p render.KongPlugin) bool { return !names[pluginName(p)] })
}

// livePlugin finds the plugin on the gateway that is the desired plugin
// p, when the tenant's slice lacks it: same name, on the same parent (an
// entity of the tenant's slice, or one it adopts, whose Kong ID liveID
// returns), or global. It returns its holder and what was found; a zero
// holder when there is none.
func livePlugin(tp *tenantPlan, tk *taken, p render.KongPlugin, liveID func(kind, name string) string) (holder, string) {
	_, own := slicePluginNames(tp.live)
	// The Kong IDs of its service, route and consumer, "" for none.
	var want [3]string
	for i, parent := range []struct{ kind, name string }{{KindService, p.Service}, {KindRoute, p.Route}, {KindConsumer, p.Consumer}} {
		if parent.name == "" {
			continue
		}
		if want[i] = liveID(parent.kind, parent.name); want[i] == "" {
			return holder{}, "" // a parent to create: so is the plugin
		}
	}
	for _, e := range tk.plugins {
		if str(e.Name) != p.Name || own[str(e.ID)] {
			continue
		}
		var got [3]string
		if e.Service != nil {
			got[0] = str(e.Service.ID)
		}
		if e.Route != nil {
			got[1] = str(e.Route.ID)
		}
		if e.Consumer != nil {
			got[2] = str(e.Consumer.ID)
		}
		if got != want {
			continue
		}
		h := holderOf(e.Tags, e.ID, e)
		found := h.found(tp.tenant)
		return h, found
	}
	return holder{}, ""
}

// readAdoptedKeys lists the key-auth credentials of every consumer a
// tenant adopts whose definition asks for key-auth, and keeps the one the
// tenant adopts with it (tp.adoptKeys): the oldest that no tag marks for
// another tenant. Its key keeps working; only its digest is recorded.
func (t *Target) readAdoptedKeys(ctx context.Context, s *session, tenants []*tenantPlan) error {
	type job struct {
		tp       *tenantPlan
		username string
		id       string
	}
	var jobs []job
	for _, tp := range tenants {
		if tp.desired == nil || len(tp.adopted) == 0 {
			continue
		}
		for _, c := range tp.desired.Consumers {
			if _, ok := tp.adopted[entityID(KindConsumer, c.Username)]; ok && c.KeyAuth {
				jobs = append(jobs, job{tp: tp, username: c.Username, id: ownID(tp.live, KindConsumer, c.Username)})
			}
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	found := make([][]*gokong.KeyAuth, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.concurrency)
	for i, j := range jobs {
		g.Go(func() error {
			opt := &gokong.ListOpt{Size: 1000}
			for opt != nil {
				page, next, err := s.client.KeyAuths.ListForConsumer(gctx, gokong.String(j.id), opt)
				if err != nil {
					return fmt.Errorf("kong gateway %s: consumer %s: list key-auth credentials: %w", t.name, j.username, err)
				}
				found[i] = append(found[i], page...)
				opt = next
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err //nolint:wrapcheck // wrapped above
	}
	for i, j := range jobs {
		var cands []*gokong.KeyAuth
		for _, k := range found[i] {
			if k.Key != nil && !slices.ContainsFunc(tenantMarks(k.Tags), func(m string) bool { return m != j.tp.tenant }) {
				cands = append(cands, k)
			}
		}
		if len(cands) == 0 {
			continue
		}
		slices.SortFunc(cands, func(a, b *gokong.KeyAuth) int {
			return cmp.Or(cmp.Compare(intOf(a.CreatedAt), intOf(b.CreatedAt)), cmp.Compare(str(a.ID), str(b.ID)))
		})
		if j.tp.adoptKeys == nil {
			j.tp.adoptKeys = map[string]adoptedKey{}
		}
		j.tp.adoptKeys[j.username] = adoptedKey{cred: cands[0], others: len(found[i]) - 1}
	}
	return nil
}

// adoptedKey is the key-auth credential a tenant adopts with a consumer;
// others counts the consumer's other credentials, which stay as they are.
type adoptedKey struct {
	cred   *gokong.KeyAuth
	others int
}

func intOf(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// adoptedKeyChange is the change that adopts a consumer's key-auth
// credential: the key keeps working, no key is generated or delivered,
// and the digest of its key is recorded, so that a later change of the
// key by hand is drift. The key is in neither the change nor its notes.
func (t *Target) adoptedKeyChange(tp *tenantPlan, consumer string, ak adoptedKey) *item {
	name := consumer + "/key-auth"
	found := "without k3sync's tags"
	if tenantOf(ak.cred.Tags) == tp.tenant {
		found = notInInventory
	}
	c := plan.Adopted(t.key(tp.tenant, KindCredential, name), levels[KindCredential], found, nil)
	c.Notes = append(c.Notes, "the consumer's existing key keeps working: no key is generated or delivered; "+
		"k3sync records its SHA-256 digest, so a later change of the key outside k3sync is drift")
	if ak.others > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("the consumer's %d other key-auth credential(s) are not adopted and stay as they are", ak.others))
	}
	return &item{change: c, cred: &credential{consumer: consumer, id: str(ak.cred.ID), sum: keySum(str(ak.cred.Key))}}
}

// adoptCredential sets k3sync's tags on an adopted key-auth credential,
// keeping its key; the key is never sent. key is the credential's key,
// only to redact Kong's messages.
func (t *Target) adoptCredential(ctx context.Context, s *session, tenant, key string, it *item) {
	_, err := s.client.KeyAuths.Update(ctx, gokong.String(it.cred.consumer), &gokong.KeyAuth{
		ID:   gokong.String(it.cred.id),
		Tags: ptrs(render.Tags(tenant)),
	})
	if err != nil {
		it.err = fmt.Errorf("kong credential %s: adopt: %w", it.change.Name, redact(err, key))
		return
	}
	it.done = true
}

// adoptFields are the fields an adoption lists: those that differ from
// Git, the tags k3sync sets aside.
func adoptFields(fields []plan.FieldChange) []plan.FieldChange {
	return slices.DeleteFunc(fields, func(f plan.FieldChange) bool {
		return f.Path == "tags" || strings.HasPrefix(f.Path, "tags.") || strings.HasPrefix(f.Path, "tags[")
	})
}

// tagsDiffer reports whether the live entity of an adoption lacks
// exactly k3sync's tags for the tenant: then the syncer must write it.
func tagsDiffer(tp *tenantPlan, it *item) bool {
	var tags []*string
	raw := &tp.live.raw
	kind, name := it.change.Kind, it.change.Name
	switch kind {
	case KindService:
		for _, e := range raw.Services {
			if str(e.Name) == name {
				tags = e.Tags
			}
		}
	case KindRoute:
		for _, e := range raw.Routes {
			if str(e.Name) == name {
				tags = e.Tags
			}
		}
	case KindConsumer:
		for _, e := range raw.Consumers {
			if str(e.Username) == name {
				tags = e.Tags
			}
		}
	case KindUpstream:
		for _, e := range raw.Upstreams {
			if str(e.Name) == name {
				tags = e.Tags
			}
		}
	case KindACLGroup:
		users := map[string]string{}
		for _, e := range raw.Consumers {
			users[str(e.ID)] = str(e.Username)
		}
		for _, e := range raw.ACLGroups {
			if e.Consumer != nil && users[str(e.Consumer.ID)]+"/"+str(e.Group) == name {
				tags = e.Tags
			}
		}
	case KindTarget:
		ups := map[string]string{}
		for _, e := range raw.Upstreams {
			ups[str(e.ID)] = str(e.Name)
		}
		for _, e := range raw.Targets {
			if e.Upstream != nil && ups[str(e.Upstream.ID)]+"/"+str(e.Target) == name {
				tags = e.Tags
			}
		}
	case KindPlugin:
		n := &namer{names: map[string]string{}}
		for _, e := range raw.Services {
			n.add(e.ID, e.Name)
		}
		for _, e := range raw.Routes {
			n.add(e.ID, e.Name)
		}
		for _, e := range raw.Consumers {
			n.add(e.ID, e.Username)
		}
		for _, e := range raw.Plugins {
			if n.pluginName(e) == name {
				tags = e.Tags
			}
		}
	default:
		return true
	}
	got := make([]string, len(tags))
	for i, p := range tags {
		got[i] = str(p)
	}
	want := render.Tags(tp.tenant)
	slices.Sort(got)
	slices.Sort(want)
	return !slices.Equal(got, want)
}
