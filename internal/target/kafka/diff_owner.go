package kafka

import (
	"fmt"
	"strings"

	"github.com/k3sync/k3sync/internal/plan"
)

// notOwned plans a desired resource that exists live and that tp does not
// own: blocked, with no Kafka work and no record, so that it never enters
// the inventory. found says what was found, or is empty.
func (t *Target) notOwned(tp *tenantPlan, kind, name string, level int, found string) {
	it := t.newItem(tp, kind, name, level)
	if owner, ok := tp.owners()[it.id]; ok && owner != tp.name {
		found = strings.TrimSuffix("owned by tenant "+owner+"; "+found, "; ")
	}
	if _, why := tp.adopts(it.id); why != "" {
		found = strings.TrimSuffix(found+"; "+why, "; ")
		found = strings.TrimPrefix(found, "; ")
	}
	it.change = plan.NotOwned(it.change.Key, level, found)
	tp.add(it)
}

// adopts reports whether tp adopts the existing resource of inventory ID
// id that it does not own, and if not, why not when it would ("" when
// the tenant does not adopt at all): no tenant's inventory on the
// cluster may hold it, and no other tenant may claim it in this plan.
func (tp *tenantPlan) adopts(id string) (bool, string) {
	if !tp.adopt {
		return false, ""
	}
	if owner, ok := tp.holders.Other(id, tp.name); ok {
		return false, "not adopted: tenant " + owner + "'s inventory holds it"
	}
	if other, ok := tp.claims()[id]; ok && other != tp.name {
		return false, "not adopted: tenant " + other + " claims it"
	}
	return true, ""
}

// adopted turns it, a desired resource that exists and that tp adopts,
// into an adopt change: the fields and work of the update diff found, if
// any, are kept; found says what was found.
func adopted(it *item, found string) {
	it.change = plan.Adopted(it.change.Key, it.change.Level, found, it.change.Fields)
	it.owned = true
}

// insideForeignUser plans a resource of user, a desired user blocked by
// notOwned, as blocked with it.
func (t *Target) insideForeignUser(tp *tenantPlan, kind, name, user string) {
	it := t.newItem(tp, kind, name, levelAccess)
	it.change = plan.InsideNotOwned(it.change.Key, levelAccess, t.key(tp.name, kindUser, user))
	tp.add(it)
}

// foreignUsers lists the desired users of tp whose SCRAM credentials exist
// and that tp does not own.
func foreignUsers(tp *tenantPlan, snap *snapshot) map[string]bool {
	out := map[string]bool{}
	if tp.desired == nil {
		return out
	}
	for _, u := range tp.desired.Users {
		id := inventoryID(kindUser, u.Name)
		if _, owned := tp.entry.Resources[id]; !owned && len(snap.users[u.Name]) > 0 {
			if ok, _ := tp.adopts(id); !ok {
				out[u.Name] = true
			}
		}
	}
	return out
}

// userOfPrincipal is the user name of a User: principal.
func userOfPrincipal(principal string) (string, bool) {
	return strings.CutPrefix(principal, "User:")
}

// keepClaimed plans a resource tp owns that Git removed from tp and gave
// to another tenant. k3sync hands nothing over between tenants (the other
// tenant's claim is blocked by notOwned), so tp keeps it, unchanged and in
// its inventory: it reports whether it did.
func (t *Target) keepClaimed(tp *tenantPlan, id string, level int) bool {
	other, ok := tp.claims()[id]
	if !ok || other == tp.name {
		return false
	}
	kind, name, _ := splitID(id)
	it := t.newItem(tp, kind, name, level)
	it.change.Action = plan.Blocked
	it.change.Notes = []string{fmt.Sprintf("removed from Git, and tenant %s claims it: k3sync does not hand resources over between tenants, "+
		"so it stays this tenant's, unchanged, until tenant %s drops its claim (then it is deleted or orphaned as its definition says)", other, other)}
	tp.add(it)
	return true
}

// ownersOf maps what each tenant's inventory holds to the tenant.
func ownersOf(tenants []*tenantPlan) map[string]string {
	owners := map[string]string{}
	for _, tp := range tenants {
		for id := range tp.entry.Resources {
			owners[id] = tp.name
		}
	}
	return owners
}
