package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// item is one planned change and the Kafka work that makes it.
type item struct {
	change plan.Change
	// id is the resource's inventory ID; owned says it was in the
	// inventory before this plan.
	id    string
	owned bool
	// pending: an earlier apply was creating it and did not learn
	// whether it did (see pendingID).
	pending bool
	// record is the last applied value once the change is made; nil when
	// the resource leaves the inventory (delete, orphan).
	record json.RawMessage

	// The work, by kind; nil when the change needs no Kafka write
	// (orphan, blocked, a deletion-policy flag).
	topic *topicWork
	acl   *aclBinding
	quota *quotaWork
	user  *userWork

	// errs are the apply's errors for this change, one per request that
	// failed for it (a change may take several).
	errs []error
	// definitive: the broker rejected the change for good (not a timeout
	// or a lost connection), so a failed create created nothing.
	definitive bool
	notes      []string
}

// topicWork is what a topic change sends.
type topicWork struct {
	create     *render.KafkaTopic
	partitions int32             // grow to this many partitions
	set        map[string]string // configs to set
	reset      []string          // configs to delete, back to the default
	delete     bool
}

// quotaWork sets and removes quota keys of one user entity.
type quotaWork struct {
	user   string
	set    map[string]float64
	remove []string
}

// userWork upserts a SCRAM credential with a new password and removes
// credentials of other mechanisms.
type userWork struct {
	name       string
	mechanism  string
	iterations int32
	upsert     bool
	remove     []string
}

// tenantPlan is one tenant's part of a plan.
type tenantPlan struct {
	name string
	// entry is the inventory as the plan found it; stored is what the
	// store holds now, once an apply saved.
	entry  state.Entry
	stored map[string]json.RawMessage
	// desired is nil when the tenant wants nothing on this cluster.
	desired *render.KafkaResources
	items   []*item
	// prune are inventory IDs of resources gone from both Git and Kafka;
	// they leave the inventory at the next save.
	prune []string
	// anyPending: the inventory has pending marks.
	anyPending bool
	// confirmed are pending resources seen live: their pending marks go
	// at the next save.
	confirmed []string
	// claims maps the inventory ID of everything desired in the plan to
	// the tenant that desires it, and owners what the tenants' inventories
	// hold to the tenant; both computed when first needed.
	claims, owners func() map[string]string
	// foreignUsers are the desired users whose credentials exist and
	// that the tenant does not own: blocked, with their ACLs and quota.
	foreignUsers map[string]bool
	// adopt: the tenant adopts what exists and no tenant owns
	// (policies.adopt); holders says what every tenant's inventory on
	// the cluster holds.
	adopt   bool
	holders *state.Inventories
}

// planned is a whole plan of this target.
type planned struct {
	tenants []*tenantPlan
	items   []*item // sorted in apply order
}

// Plan computes the changes that would make the cluster match Git for the
// tenants of req. It reads Kafka and the state store and writes nothing.
func (t *Target) Plan(ctx context.Context, req plan.Request) ([]plan.Change, error) {
	p, err := t.plan(ctx, req)
	if err != nil {
		return nil, err
	}
	changes := make([]plan.Change, len(p.items))
	for i, it := range p.items {
		changes[i] = it.change
	}
	return changes, nil
}

func (t *Target) plan(ctx context.Context, req plan.Request) (*planned, error) {
	tenants, err := t.tenants(ctx, req)
	if err != nil {
		return nil, err
	}
	p := &planned{tenants: tenants}
	if len(tenants) == 0 {
		return p, nil
	}
	snap, err := t.read(ctx, scopeOf(tenants))
	if err != nil {
		return nil, err
	}
	allowDelete := req.Platform != nil && req.Platform.Policy.Deletion.AllowTopicDeletion
	claims := sync.OnceValue(func() map[string]string { return claimsOf(tenants) })
	owners := sync.OnceValue(func() map[string]string { return ownersOf(tenants) })
	for _, tp := range tenants {
		tp.claims, tp.owners = claims, owners
		tp.foreignUsers = foreignUsers(tp, snap)
		t.diffTopics(tp, snap, allowDelete)
		if err := t.diffACLs(tp, snap); err != nil {
			return nil, err
		}
		t.diffQuotas(tp, snap)
		t.diffUsers(tp, snap)
		p.items = append(p.items, tp.items...)
	}
	changes := make([]*plan.Change, len(p.items))
	for i, it := range p.items {
		changes[i] = &it.change
	}
	req.CapDeletes("kafka "+t.name, changes)
	slices.SortStableFunc(p.items, func(a, b *item) int { return plan.Compare(a.change, b.change) })
	return p, nil
}

// tenants pairs each tenant the request covers here (plan.Request.Scope)
// with its inventory, keeping those with something desired or owned here.
func (t *Target) tenants(ctx context.Context, req plan.Request) ([]*tenantPlan, error) {
	inv, err := state.ReadInventories(ctx, t.store, t.stateID)
	if err != nil {
		return nil, fmt.Errorf("kafka %s: %w", t.name, err)
	}
	var out []*tenantPlan
	for _, sc := range req.Scope(inv.Tenants) {
		var desired *render.KafkaResources
		if tr := sc.Request; tr != nil && tr.Desired != nil {
			if k := tr.Desired.Kafka; k != nil && k.Cluster == t.name {
				desired = k
			}
		}
		e, err := inv.Entry(ctx, sc.Name)
		if err != nil {
			return nil, fmt.Errorf("kafka %s: %w", t.name, err)
		}
		if desired == nil && len(e.Resources) == 0 {
			continue
		}
		tp := t.tenantPlan(sc.Name, e, desired)
		tp.adopt = sc.Request != nil && sc.Request.Model != nil && sc.Request.Model.Policies.Adopt
		tp.holders = inv
		out = append(out, tp)
	}
	return out, nil
}

func (t *Target) tenantPlan(name string, e state.Entry, desired *render.KafkaResources) *tenantPlan {
	e.Tenant, e.Target = name, t.stateID
	tp := &tenantPlan{name: name, entry: e, stored: e.Resources, desired: desired}
	for id := range e.Resources {
		if kind, _, _ := splitID(id); kind == kindPending {
			tp.anyPending = true
			break
		}
	}
	return tp
}

// scopeOf is what the tenants desire or own.
func scopeOf(tenants []*tenantPlan) scope {
	var sc scope
	topics := map[string]bool{}
	for _, tp := range tenants {
		if d := tp.desired; d != nil {
			for _, tt := range d.Topics {
				topics[tt.Name] = true
			}
			sc.acls = sc.acls || len(d.ACLs) > 0
			sc.quotas = sc.quotas || len(d.Quotas) > 0
			sc.users = sc.users || len(d.Users) > 0
		}
		for id := range tp.entry.Resources {
			kind, name, _ := splitID(id)
			switch kind {
			case kindTopic:
				topics[name] = true
			case kindACL:
				sc.acls = true
			case kindQuota:
				sc.quotas = true
			case kindUser:
				sc.users = true
			}
		}
	}
	sc.topics = slices.Sorted(maps.Keys(topics))
	return sc
}

// claimsOf maps what each tenant desires to the tenant.
func claimsOf(tenants []*tenantPlan) map[string]string {
	claims := map[string]string{}
	for _, tp := range tenants {
		d := tp.desired
		if d == nil {
			continue
		}
		for _, tt := range d.Topics {
			claims[inventoryID(kindTopic, tt.Name)] = tp.name
		}
		for _, a := range d.ACLs {
			claims[inventoryID(kindACL, aclName(normalACL(a)))] = tp.name
		}
		for _, q := range d.Quotas {
			claims[inventoryID(kindQuota, q.User)] = tp.name
		}
		for _, u := range d.Users {
			claims[inventoryID(kindUser, u.Name)] = tp.name
		}
	}
	return claims
}

// key is the plan key of a resource of tenant on this cluster.
func (t *Target) key(tenant, kind, name string) plan.Key {
	return plan.Key{Tenant: tenant, System: plan.Kafka, Target: t.name, Kind: kind, Name: name}
}

// newItem starts a change of tenant tp.
func (t *Target) newItem(tp *tenantPlan, kind, name string, level int) *item {
	id := inventoryID(kind, name)
	_, owned := tp.entry.Resources[id]
	return &item{
		change:  plan.Change{Key: t.key(tp.name, kind, name), Level: level},
		id:      id,
		owned:   owned,
		pending: tp.pending(id),
	}
}

// known reports whether k3sync owns the resource and knows it was made:
// only then can live differ from the last applied state by drift.
func (it *item) known() bool { return it.owned && !it.pending }

// pendingID marks in the inventory a resource an apply was creating when
// it could not learn whether it did (a timeout, a lost connection): it is
// owned, since it may exist, but its absence is no drift. The mark is not a
// resource: its kind is no kind of resource.
func pendingID(id string) string { return kindPending + "/" + id }

func (tp *tenantPlan) pending(id string) bool {
	if !tp.anyPending {
		return false
	}
	_, ok := tp.entry.Resources[pendingID(id)]
	return ok
}

// confirm notes that a pending resource exists.
func (tp *tenantPlan) confirm(it *item) {
	if it.pending {
		tp.confirmed = append(tp.confirmed, it.id)
	}
}

// add sets the change's drift from its fields and adds it to the plan.
func (tp *tenantPlan) add(it *item) {
	for _, f := range it.change.Fields {
		it.change.Drift = it.change.Drift || f.Drift
	}
	tp.items = append(tp.items, it)
}

// owned lists the inventory IDs of kind, sorted, with their names.
func (tp *tenantPlan) owned(kind string) []string {
	var ids []string
	for id := range tp.entry.Resources {
		if k, _, _ := splitID(id); k == kind {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
