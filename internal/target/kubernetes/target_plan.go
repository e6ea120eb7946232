package kubernetes

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// item is one planned change with what applying it needs.
type item struct {
	change  plan.Change
	desired *unstructured.Unstructured
	// deletable is recorded in the inventory with the applied object.
	deletable bool
	// resourceVersion is the live version the inventory records with the
	// object: the one its apply produced, or the live one when no apply
	// was needed.
	resourceVersion string
	// uid is the live object's UID, recorded with it likewise.
	uid types.UID
	// dropCredentials: the item orphans a namespace; the credential
	// Secrets k3sync delivered in it go (dropCredentials in apply).
	dropCredentials bool
	// shed: desired was let go of until the apply (tenantPlan.shed).
	shed bool
}

// tenantPlan is the plan of one tenant on this cluster.
type tenantPlan struct {
	tenant string
	entry  state.Entry
	items  []*item
	// forget are inventory IDs whose objects are gone, or orphaned.
	forget []string
	// unchanged are the desired objects that need no change, for the
	// inventory.
	unchanged map[string]*item
	// live holds the live objects of deletes, for their UID precondition.
	live map[string]*unstructured.Unstructured
	// from is where the desired objects came from, to release them.
	from *render.ClusterResources
}

// Plan reads the cluster and returns the changes that would make it match
// the request.
func (t *Target) Plan(ctx context.Context, req plan.Request) ([]plan.Change, error) {
	tps, err := t.plan(ctx, req)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, tp := range tps {
		n += len(tp.items)
	}
	out := make([]plan.Change, 0, n)
	for _, tp := range tps {
		for _, it := range tp.items {
			out = append(out, it.change)
		}
		tp.from.Release()
	}
	plan.Sort(out)
	return out, nil
}

// plan plans every tenant in scope. The tenant plans hold their desired
// objects when the request rendered them up front; those it renders on
// demand are rendered one tenant at a time and let go of (shed). The
// caller releases the tenant plans (tenantPlan.from.Release); when plan fails,
// it has released them.
func (t *Target) plan(ctx context.Context, req plan.Request) ([]*tenantPlan, error) {
	scope, err := t.scope(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(scope) == 0 {
		return nil, nil
	}
	tps, err := t.planScope(ctx, req, scope)
	if err != nil {
		for _, s := range scope {
			s.from.Release()
		}
		return nil, err
	}
	return tps, nil
}

func (t *Target) planScope(ctx context.Context, req plan.Request, scope []scoped) ([]*tenantPlan, error) {
	var names []string
	if !req.Complete {
		names = make([]string, 0, len(scope))
		for _, s := range scope {
			names = append(names, s.tenant)
		}
	}
	ts, err := t.loadSchema(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", t.name, err)
	}
	live, partial, err := t.readLiveMeta(ctx, names)
	if err != nil {
		return nil, err
	}
	// A desired object the inventory shows untouched since k3sync applied
	// it as it is now needs no diff: only the others are read in full.
	var toDiff []string
	memo := t.newHeadMemo(req.Complete)
	for i := range scope {
		s := &scope[i]
		s.untouched, s.heads = map[string]string{}, map[string]appliedHead{}
		decode := memo.tenant(s.tenant)
		// The objects themselves are compared only with what the
		// inventory says was applied to a live object: rendered then.
		var objs []*unstructured.Unstructured
		for j, id := range s.ids {
			raw, owned := s.entry.Resources[id]
			var h appliedHead
			if owned {
				h = decode(id, raw)
				s.heads[id] = h
			}
			l, ok := live[id]
			if !ok {
				continue
			}
			if owned {
				if rv := l.GetResourceVersion(); h.ResourceVersion != "" && h.ResourceVersion == rv {
					if objs == nil {
						objs = s.objects()
					}
					if d := objs[j]; h.Deletable == t.deletable(req, *s, d) && h.sameObject(d.Object) {
						s.untouched[id] = rv
						continue
					}
				}
			}
			toDiff = append(toDiff, id)
		}
	}
	t.saveHeads(memo)
	if err := t.readFull(ctx, names, toDiff, live, partial); err != nil {
		return nil, err
	}
	var missing []string
	adopting := map[string]bool{} // namespaces a tenant that adopts desires
	for _, s := range scope {
		for _, id := range s.ids {
			if _, ok := live[id]; !ok {
				missing = append(missing, id)
			}
			if kind, _, name := splitID(id); s.adopts() && kind == kinds[0].GVK.Kind {
				adopting[name] = true
			}
		}
	}
	unowned, err := t.readUnowned(ctx, missing, adopting)
	if err != nil {
		return nil, err
	}
	// What a tenant may adopt is read in full, to diff it with Git.
	var toRead []string
	for _, s := range scope {
		for _, id := range s.ids {
			if unowned[id] != nil && s.adopts() && t.adoptable(s, id, live[id], unowned[id]) == "" {
				toRead = append(toRead, id)
			}
		}
	}
	adoptLive, err := t.readAdoptable(ctx, toRead)
	if err != nil {
		return nil, err
	}
	for id, o := range adoptLive {
		live[id] = o
	}
	out := make([]*tenantPlan, 0, len(scope))
	for _, s := range scope {
		tp, err := t.planTenant(ts, req, s, live, partial, unowned)
		if err != nil {
			return nil, err
		}
		// Objects rendered on demand are let go of tenant by tenant:
		// an apply renders them again (tenantPlan.restore).
		tp.shed()
		out = append(out, tp)
	}
	t.capDeletes(req, out)
	return out, nil
}

// scoped is a tenant the request concerns on this cluster.
type scoped struct {
	tenant string
	model  *model.Tenant
	// desired are the desired objects when the request rendered them up
	// front; ids are their IDs, in the same order, either way.
	desired []*unstructured.Unstructured
	ids     []string
	entry   state.Entry
	// inv says which tenants' inventories on this cluster hold what.
	inv *state.Inventories
	// untouched maps the desired objects whose inventory entry is what
	// Git desires, with the resourceVersion the live object has, to that
	// version: while the live object still has it, nothing changed.
	untouched map[string]string
	// heads are the inventory entries of the desired objects, decoded
	// once per plan.
	heads map[string]appliedHead
	// from is where desired came from, to release it.
	from *render.ClusterResources
}

// objects returns the desired objects, in the order of ids: those scope
// kept, or, for a tenant new here whose request renders them on demand,
// rendered now for the caller alone, so that a first sync's plan holds
// one tenant's objects at a time, not a thousand tenants'.
func (s scoped) objects() []*unstructured.Unstructured {
	if s.desired != nil || s.from == nil {
		return s.desired
	}
	return s.from.Desired()
}

// head is the decoded inventory entry of id.
func (s scoped) head(id string) appliedHead {
	if h, ok := s.heads[id]; ok {
		return h
	}
	return decodeHead(s.entry.Resources[id])
}

// adopts reports whether the tenant adopts what exists (policies.adopt).
func (s scoped) adopts() bool { return s.model != nil && s.model.Policies.Adopt }

// scope lists the tenants the request covers here (plan.Request.Scope)
// with something desired here or something in the inventory here, sorted
// by name. Their desired objects are rendered now, when the request
// renders them on demand (render.TenantOnDemand).
func (t *Target) scope(ctx context.Context, req plan.Request) ([]scoped, error) {
	inv, err := state.ReadInventories(ctx, t.store, t.stateTarget())
	if err != nil {
		return nil, fmt.Errorf("cluster %s: inventory: %w", t.name, err)
	}
	var out []scoped
	for _, sc := range req.Scope(inv.Tenants) {
		s := scoped{tenant: sc.Name, inv: inv}
		if s.entry, err = inv.Entry(ctx, sc.Name); err != nil {
			for _, o := range out {
				o.from.Release()
			}
			return nil, fmt.Errorf("cluster %s: %w", t.name, err)
		}
		if tr := sc.Request; tr != nil && !tr.Removed {
			s.model = tr.Model
			if tr.Desired != nil {
				for _, cr := range tr.Desired.Kubernetes {
					if cr.Cluster == t.name {
						s.from = cr
						objs := cr.Desired()
						s.ids = make([]string, len(objs))
						for i, d := range objs {
							s.ids[i] = idOf(d)
						}
						// A tenant k3sync applied here before is
						// compared object by object with what it
						// applied: its objects stay for the plan, as
						// do those rendered up front. A tenant new
						// here (a first sync) needs only their IDs
						// until planTenant renders them again, one
						// tenant at a time (objects).
						if cr.Objects != nil || len(s.entry.Resources) > 0 {
							s.desired = objs
						}
						cr.Release()
					}
				}
			}
		}
		if len(s.ids) == 0 && len(s.entry.Resources) == 0 {
			s.from.Release()
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// planTenant plans one tenant: live holds the objects the labelled read
// found (those of partial, metadata only), unowned the desired objects
// found without them (readUnowned).
func (t *Target) planTenant(ts *typeSchema, req plan.Request, s scoped, live map[string]*unstructured.Unstructured,
	partial map[string]bool, unowned map[string]*metav1.PartialObjectMetadata) (*tenantPlan, error) {
	tp := &tenantPlan{tenant: s.tenant, entry: s.entry, unchanged: map[string]*item{}, live: live, from: s.from}
	keyOf := func(kind, namespace, name string) plan.Key {
		return plan.Key{Tenant: s.tenant, System: plan.Kubernetes, Target: t.name, Kind: kind, Namespace: namespace, Name: name}
	}
	// Objects that exist and that the tenant does not own are blocked,
	// and so is everything of the tenant inside a namespace that is not
	// its own: namespaces first.
	foreign := map[string]string{}
	adopt := map[string]string{} // what the tenant adopts, with what was found
	blockedNamespaces := map[string]bool{}
	desired := s.objects()
	for _, d := range desired {
		id := idOf(d)
		found, ok := t.notOwned(s, id, live[id], unowned[id])
		if !ok {
			continue
		}
		if s.adopts() {
			switch why := t.adoptable(s, id, live[id], unowned[id]); {
			case why != "":
				found += "; not adopted: " + why
			case live[id] != nil:
				adopt[id] = found
				continue
			}
		}
		foreign[id] = found
		if d.GetKind() == kinds[0].GVK.Kind {
			blockedNamespaces[d.GetName()] = true
		}
	}
	desiredIDs := map[string]bool{}
	for _, d := range desired {
		id := idOf(d)
		desiredIDs[id] = true
		_, level, _ := kindByName(d.GetKind())
		key := keyOf(d.GetKind(), d.GetNamespace(), d.GetName())
		if found, ok := foreign[id]; ok {
			if _, owned := s.entry.Resources[id]; owned {
				// Replaced by someone else since k3sync applied it.
				tp.forget = append(tp.forget, id)
			}
			tp.items = append(tp.items, &item{change: plan.NotOwned(key, level, found)})
			continue
		}
		if d.GetNamespace() != "" && blockedNamespaces[d.GetNamespace()] {
			tp.items = append(tp.items, &item{change: plan.InsideNotOwned(key, level, keyOf(kinds[0].GVK.Kind, "", d.GetNamespace()))})
			continue
		}
		it := &item{desired: d, deletable: t.deletable(req, s, d)}
		l, exists := live[id]
		if exists && partial[id] && s.untouched[id] != l.GetResourceVersion() {
			// Cannot happen: plan reads in full what it diffs.
			return nil, fmt.Errorf("cluster %s: %s: not read in full", t.name, id)
		}
		if found, ok := adopt[id]; ok {
			d2, err := ts.diff(d, l, nil)
			if err != nil {
				return nil, fmt.Errorf("cluster %s: %s: %w", t.name, id, err)
			}
			var fields []plan.FieldChange
			if d2 != nil {
				fields = d2.fields
			}
			it.resourceVersion, it.uid = l.GetResourceVersion(), l.GetUID()
			it.change = plan.Adopted(key, level, found, fields)
			tp.items = append(tp.items, it)
			continue
		}
		if !exists {
			it.change = plan.Change{Key: key, Action: plan.Create, Level: level}
			if raw, ok := s.entry.Resources[id]; ok && decodeHead(raw).UID != "" {
				// k3sync applied it (a write-ahead placeholder has no
				// UID) and someone deleted it: drift, which a scheduled
				// check reverts or reports, as on the other systems.
				it.change.Drift = true
				it.change.Notes = []string{"deleted outside k3sync, which owns it: k3sync creates it again"}
			}
			tp.items = append(tp.items, it)
			continue
		}
		var last map[string]any
		if _, ok := s.entry.Resources[id]; ok {
			if rv, ok := s.untouched[id]; ok && rv == l.GetResourceVersion() {
				// Untouched since k3sync applied this very object.
				it.resourceVersion, it.uid = rv, l.GetUID()
				tp.unchanged[id] = it
				continue
			}
			last = s.head(id).object()
		}
		it.resourceVersion, it.uid = l.GetResourceVersion(), l.GetUID()
		d2, err := ts.diff(d, l, last)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %s: %w", t.name, id, err)
		}
		if d2 == nil {
			tp.unchanged[id] = it
			continue
		}
		it.change = plan.Change{Key: key, Action: plan.Update, Fields: d2.fields, Drift: d2.drift, Level: level}
		if len(d2.conflicts) > 0 {
			it.change.Notes = append(it.change.Notes, fmt.Sprintf("takes fields back from %v", d2.conflicts))
		}
		tp.items = append(tp.items, it)
	}
	for _, id := range sortedIDs(s.entry.Resources) {
		if desiredIDs[id] {
			continue
		}
		kindName, ns, name := splitID(id)
		_, level, _ := kindByName(kindName)
		l, exists := live[id]
		if !exists {
			tp.forget = append(tp.forget, id)
			continue
		}
		key := keyOf(kindName, ns, name)
		la := decodeHead(s.entry.Resources[id])
		if la.UID != "" && la.UID != l.GetUID() {
			// Deleted and made again by someone else: not k3sync's.
			tp.items = append(tp.items, &item{change: plan.Change{Key: key, Action: plan.Orphan, Level: level, Notes: []string{
				"removed from Git, but the live object is not the one k3sync applied (another UID: it was deleted and made again outside k3sync): k3sync keeps it and forgets it",
			}}})
			continue
		}
		if kindName == "Namespace" && !la.Deletable {
			tp.items = append(tp.items, &item{dropCredentials: true, change: plan.Change{Key: key, Action: plan.Orphan, Level: level, Notes: []string{
				"removed from Git, but namespace deletion is not allowed: the namespace and everything in it are kept, and k3sync stops managing it",
				"the credential Secrets k3sync delivered in it (kafka-user-*, kong-consumer-*) are deleted",
			}}})
			continue
		}
		c := plan.Change{Key: key, Action: plan.Delete, Level: level}
		if kindName == "Namespace" {
			c.Notes = append(c.Notes, "deletes the namespace and everything in it")
		}
		tp.items = append(tp.items, &item{change: c})
	}
	return tp, nil
}

// notOwned reports whether the desired object of ID id exists and the
// tenant does not own it, and what was found: l is the object the
// labelled read found, u the one readUnowned found.
func (t *Target) notOwned(s scoped, id string, l *unstructured.Unstructured, u *metav1.PartialObjectMetadata) (string, bool) {
	_, owned := s.entry.Resources[id]
	var uid types.UID
	switch {
	case l != nil:
		uid = l.GetUID()
	case u != nil:
		uid = u.GetUID()
	}
	switch {
	case owned:
		// An inventory entry without a UID (written ahead of a create, or
		// by an older k3sync) cannot tell: owned.
		if la := s.head(id); la.UID != "" && uid != "" && la.UID != uid {
			return "another object than the one k3sync applied: deleted and made again outside k3sync", true
		}
		return "", false
	case l != nil:
		return foundBy(s.tenant, l.GetLabels()), true
	case u != nil:
		return foundBy(s.tenant, u.GetLabels()), true
	}
	return "", false
}

// adoptable says why the tenant may not adopt the existing object of ID
// id (l or u, read with or without its labels), or "" when it may: no
// tenant's inventory on this cluster holds it, and its marks do not name
// another tenant. Inventory is proof; a mark naming someone else is
// reason enough to keep out.
func (t *Target) adoptable(s scoped, id string, l *unstructured.Unstructured, u *metav1.PartialObjectMetadata) string {
	if owner, ok := s.inv.Other(id, s.tenant); ok {
		return "tenant " + owner + "'s inventory holds it"
	}
	var labels map[string]string
	switch {
	case l != nil:
		labels = l.GetLabels()
	case u != nil:
		labels = u.GetLabels()
	}
	if owner := labels[render.LabelTenant]; owner != "" && owner != s.tenant {
		return "labelled for tenant " + owner
	}
	return ""
}

// foundBy describes who made an existing object, from its labels.
func foundBy(tenant string, labels map[string]string) string {
	switch owner := labels[render.LabelTenant]; {
	case labels[render.LabelManagedBy] != render.ManagedBy:
		return "made outside k3sync"
	case owner != tenant:
		return "labelled for tenant " + owner
	}
	return "labelled for this tenant but not in its inventory: orphaned earlier, or the state was lost"
}

// deletable reports whether the definition allows deleting d once it
// leaves Git. Only namespaces are protected.
func (t *Target) deletable(req plan.Request, s scoped, d *unstructured.Unstructured) bool {
	if d.GetKind() != "Namespace" {
		return true
	}
	if s.model == nil || s.model.Kubernetes == nil || req.Platform == nil {
		return false
	}
	ns, ok := s.model.Kubernetes.Namespaces[d.GetName()]
	return ok && s.model.NamespaceDeletable(req.Platform, ns)
}

// capDeletes blocks every delete of the plan when there are more than the
// platform allows (plan.Request.CapDeletes).
func (t *Target) capDeletes(req plan.Request, tps []*tenantPlan) {
	var changes []*plan.Change
	for _, tp := range tps {
		for _, it := range tp.items {
			changes = append(changes, &it.change)
		}
	}
	req.CapDeletes("cluster "+t.name, changes)
}

func sortedIDs[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
