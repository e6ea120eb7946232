package kafka

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// diffACLs plans the tenant's ACL bindings. A binding has no fields: it
// exists or not. Bindings k3sync never created are not looked at, whatever
// their principal or resource.
func (t *Target) diffACLs(tp *tenantPlan, snap *snapshot) error {
	want := map[string]render.KafkaACL{}
	if tp.desired != nil {
		for _, a := range tp.desired.ACLs {
			a = normalACL(a)
			want[aclName(a)] = a
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		a := want[name]
		id := inventoryID(kindACL, name)
		_, owned := tp.entry.Resources[id]
		if owned && snap.acls[a] && !tp.pending(id) {
			continue // in sync: the common case, kept cheap
		}
		if !owned && snap.acls[a] {
			if ok, _ := tp.adopts(id); ok {
				// Nothing to write: the binding is recorded as the tenant's.
				it := t.newItem(tp, kindACL, name, levelAccess)
				it.record = record(a)
				adopted(it, "an identical binding made outside k3sync")
				tp.add(it)
				continue
			}
			// Creating it would change nothing on Kafka, but recording it
			// would let k3sync delete someone else's binding later.
			t.notOwned(tp, kindACL, name, levelAccess, "an identical binding made outside k3sync")
			continue
		}
		if user, ok := userOfPrincipal(a.Principal); ok && tp.foreignUsers[user] {
			t.insideForeignUser(tp, kindACL, name, user)
			continue
		}
		it := t.newItem(tp, kindACL, name, levelAccess)
		if snap.acls[a] {
			tp.confirm(it)
		}
		it.record = record(a)
		switch {
		case !snap.acls[a]:
			it.change.Action = plan.Create
			switch {
			case it.pending:
				it.change.Notes = []string{pendingNote}
			case it.owned:
				it.change.Drift = true
				it.change.Notes = []string{"deleted outside k3sync, which owns it: k3sync creates it again"}
			}
			b, err := binding(a)
			if err != nil {
				return err
			}
			it.acl = &b
		default:
			continue
		}
		tp.add(it)
	}
	for _, id := range tp.owned(kindACL) {
		_, name, _ := splitID(id)
		if _, ok := want[name]; ok || t.keepClaimed(tp, id, levelAccess) {
			continue
		}
		base := decode[render.KafkaACL](tp.entry.Resources[id])
		if base == nil || !snap.acls[normalACL(*base)] {
			// Gone from Kafka, or unknown so that no exact delete
			// filter can be built: it leaves the inventory.
			tp.prune = append(tp.prune, id)
			continue
		}
		b, err := binding(*base)
		if err != nil {
			tp.prune = append(tp.prune, id)
			continue
		}
		it := t.newItem(tp, kindACL, name, levelAccess)
		it.change.Action = plan.Delete
		it.acl = &b
		tp.add(it)
	}
	return nil
}

// diffQuotas plans the client quotas of the tenant's user entities. Keys
// someone else set on the same entity are reported and left alone.
func (t *Target) diffQuotas(tp *tenantPlan, snap *snapshot) {
	want := map[string]render.KafkaQuota{}
	if tp.desired != nil {
		for _, q := range tp.desired.Quotas {
			want[q.User] = q
		}
	}
	for _, user := range slices.Sorted(maps.Keys(want)) {
		q := want[user]
		it := t.newItem(tp, kindQuota, user, levelAccess)
		live, exists := snap.quotas[user]
		adopt := "" // what was found, when the tenant adopts it
		switch {
		case exists && !it.owned:
			keys := make([]string, 0, len(live))
			for _, k := range slices.Sorted(maps.Keys(live)) {
				keys = append(keys, fmt.Sprintf("%s=%v", k, live[k]))
			}
			if ok, _ := tp.adopts(it.id); ok {
				adopt = "set outside k3sync: " + strings.Join(keys, ", ")
				break
			}
			t.notOwned(tp, kindQuota, user, levelAccess, "set outside k3sync: "+strings.Join(keys, ", "))
			continue
		case !exists && tp.foreignUsers[user]:
			t.insideForeignUser(tp, kindQuota, user, user)
			continue
		}
		it.record = record(q)
		var base map[string]float64
		if it.owned {
			if b := decode[render.KafkaQuota](tp.entry.Resources[it.id]); b != nil {
				base = b.Values
			}
		}
		if exists {
			tp.confirm(it)
		}
		work := &quotaWork{user: user, set: map[string]float64{}}
		var notes []string
		for _, k := range slices.Sorted(maps.Keys(union(q.Values, base, live))) {
			lv, inLive := live[k]
			bv, inBase := base[k]
			wv, inWant := q.Values[k]
			drift := it.known() && (inBase != inLive || inBase && bv != lv)
			var before any
			if inLive {
				before = lv
			}
			switch {
			case inWant:
				if inLive && lv == wv {
					continue
				}
				it.change.Fields = append(it.change.Fields, plan.FieldChange{Path: k, Before: before, After: wv, Drift: drift})
				work.set[k] = wv
			case inBase && inLive:
				it.change.Fields = append(it.change.Fields, plan.FieldChange{Path: k, Before: lv, Drift: drift})
				work.remove = append(work.remove, k)
			case inLive:
				notes = append(notes, fmt.Sprintf("%s=%v is set outside Git: k3sync leaves it as it is", k, lv))
			}
		}
		switch {
		case adopt != "":
			if len(it.change.Fields) > 0 {
				it.quota = work
			}
			adopted(it, adopt)
		case len(it.change.Fields) > 0 && !exists:
			it.change.Action = plan.Create
			switch {
			case it.pending:
				it.change.Notes = append(it.change.Notes, pendingNote)
			case it.owned:
				it.change.Notes = append(it.change.Notes, "deleted outside k3sync, which owns it: k3sync sets it again")
			}
			it.quota = work
		case len(it.change.Fields) > 0:
			it.change.Action = plan.Update
			it.quota = work
		default:
			continue
		}
		it.change.Notes = append(it.change.Notes, notes...)
		tp.add(it)
	}
	for _, id := range tp.owned(kindQuota) {
		_, user, _ := splitID(id)
		if _, ok := want[user]; ok || t.keepClaimed(tp, id, levelAccess) {
			continue
		}
		var base map[string]float64
		if b := decode[render.KafkaQuota](tp.entry.Resources[id]); b != nil {
			base = b.Values
		}
		live := snap.quotas[user]
		it := t.newItem(tp, kindQuota, user, levelAccess)
		work := &quotaWork{user: user}
		for _, k := range slices.Sorted(maps.Keys(base)) {
			if lv, ok := live[k]; ok {
				it.change.Fields = append(it.change.Fields, plan.FieldChange{Path: k, Before: lv})
				work.remove = append(work.remove, k)
			}
		}
		if len(work.remove) == 0 {
			tp.prune = append(tp.prune, id)
			continue
		}
		it.change.Action = plan.Delete
		it.quota = work
		tp.add(it)
	}
}

func union[V any](maps ...map[string]V) map[string]bool {
	out := map[string]bool{}
	for _, m := range maps {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

// pendingNote explains a create that is retried, not reverted.
const pendingNote = "an earlier apply was creating it and could not tell whether it did: k3sync creates it"

// generatedPassword stands for the password in a plan: it is generated at
// apply time and never known to a plan.
const generatedPassword = "(generated at apply)"

// diffUsers plans the tenant's SCRAM users. A user that exists is never
// given a new password by a plan, only by a mechanism change or Rotate.
func (t *Target) diffUsers(tp *tenantPlan, snap *snapshot) {
	want := map[string]render.KafkaUser{}
	if tp.desired != nil {
		for _, u := range tp.desired.Users {
			want[u.Name] = u
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		u := want[name]
		mechs := snap.users[name]
		if tp.foreignUsers[name] {
			// A new credential would take over someone else's login.
			t.notOwned(tp, kindUser, name, levelAccess, "SCRAM credentials "+strings.Join(slices.Sorted(maps.Keys(mechs)), ", ")+" set outside k3sync")
			continue
		}
		it := t.newItem(tp, kindUser, name, levelAccess)
		it.record = record(u)
		if !it.owned && len(mechs) > 0 {
			// Adopted (foreignUsers let it through): its credential keeps
			// working; no new password is set or delivered.
			found := "SCRAM credentials " + strings.Join(slices.Sorted(maps.Keys(mechs)), ", ") + " set outside k3sync"
			adopted(it, found)
			it.change.Notes = append(it.change.Notes, "the existing password keeps working: k3sync sets none and delivers none (rotate to have one delivered)")
			// The record's zero iterations say the credential is not one
			// k3sync set: its iterations are not compared (no new
			// password) until a rotation sets one of k3sync's.
			mech := u.Mechanism
			if _, ok := mechs[mech]; !ok {
				mech = slices.Sorted(maps.Keys(mechs))[0]
				it.change.Notes = append(it.change.Notes, fmt.Sprintf("Git asks for %s, which the user has no credential for: the next apply sets one, with a new password", u.Mechanism))
			}
			it.record = record(render.KafkaUser{Name: u.Name, Mechanism: mech})
			tp.add(it)
			continue
		}
		var base *render.KafkaUser
		if it.owned {
			base = decode[render.KafkaUser](tp.entry.Resources[it.id])
		}
		_, hasWanted := mechs[u.Mechanism]
		if hasWanted {
			tp.confirm(it)
		}
		// The credential k3sync set before, when it is another mechanism
		// and still there: it goes once the new one is in place.
		var stale []string
		if base != nil && base.Mechanism != u.Mechanism {
			if _, ok := mechs[base.Mechanism]; ok {
				stale = []string{base.Mechanism}
			}
		}
		password := plan.FieldChange{Path: "password", After: generatedPassword, Sensitive: true}
		c := &it.change
		switch {
		case len(mechs) == 0:
			c.Action = plan.Create
			c.Fields = []plan.FieldChange{{Path: "mechanism", After: u.Mechanism}, {Path: "iterations", After: u.Iterations}, password}
			c.Notes = []string{"k3sync generates the password and delivers it to the tenant before Kafka gets it"}
			switch {
			case it.pending:
				c.Notes = append(c.Notes, pendingNote)
			case it.owned:
				c.Drift = true
				c.Notes = append(c.Notes, "deleted outside k3sync, which owns it: k3sync creates it again, with a new password")
			}
			it.user = &userWork{name: name, mechanism: u.Mechanism, iterations: u.Iterations, upsert: true}
		case !hasWanted:
			c.Action = plan.Update
			live := slices.Sorted(maps.Keys(mechs))
			c.Fields = []plan.FieldChange{
				{Path: "mechanism", Before: strings.Join(live, ","), After: u.Mechanism, Drift: it.known() && base != nil && len(stale) == 0},
				password,
			}
			c.Notes = []string{"a new mechanism needs a new password: k3sync generates it and delivers it to the tenant before Kafka gets it"}
			for _, m := range live {
				if !slices.Contains(stale, m) {
					c.Notes = append(c.Notes, fmt.Sprintf("the %s credential was set outside k3sync: k3sync leaves it", m))
				}
			}
			it.user = &userWork{name: name, mechanism: u.Mechanism, iterations: u.Iterations, upsert: true, remove: stale}
		case mechs[u.Mechanism] != u.Iterations && (base == nil || base.Iterations != 0):
			// Iterations are all Kafka shows of a credential: when they
			// are not what k3sync set, the credential was set again out
			// of band (drift); when Git changed them, it is a change.
			// Either way a new password goes with them.
			c.Action = plan.Update
			drift := base != nil && base.Mechanism == u.Mechanism && base.Iterations == u.Iterations
			c.Fields = []plan.FieldChange{{Path: "iterations", Before: mechs[u.Mechanism], After: u.Iterations, Drift: drift}, password}
			c.Drift = drift
			if drift {
				c.Notes = []string{fmt.Sprintf("the %s credential was set outside k3sync (%d iterations, k3sync set %d): "+
					"k3sync sets a new password and delivers it to the tenant before Kafka gets it", u.Mechanism, mechs[u.Mechanism], u.Iterations)}
			} else {
				c.Notes = []string{"new iterations need a new password: k3sync generates it and delivers it to the tenant before Kafka gets it"}
			}
			it.user = &userWork{name: name, mechanism: u.Mechanism, iterations: u.Iterations, upsert: true, remove: stale}
		case len(stale) > 0:
			c.Action = plan.Update
			c.Fields = []plan.FieldChange{{Path: "mechanisms", Before: slices.Sorted(maps.Keys(mechs)), After: []string{u.Mechanism}}}
			it.user = &userWork{name: name, remove: stale}
		default:
			continue
		}
		tp.add(it)
	}
	for _, id := range tp.owned(kindUser) {
		_, name, _ := splitID(id)
		if _, ok := want[name]; ok || t.keepClaimed(tp, id, levelAccess) {
			continue
		}
		base := decode[render.KafkaUser](tp.entry.Resources[id])
		if base == nil {
			tp.prune = append(tp.prune, id)
			continue
		}
		if _, ok := snap.users[name][base.Mechanism]; !ok {
			tp.prune = append(tp.prune, id)
			continue
		}
		it := t.newItem(tp, kindUser, name, levelAccess)
		it.change.Action = plan.Delete
		it.change.Fields = []plan.FieldChange{{Path: "mechanism", Before: base.Mechanism}}
		it.change.Notes = []string{"removed from Git: k3sync deletes the SCRAM credential; clients using it can no longer log in"}
		it.user = &userWork{name: name, remove: []string{base.Mechanism}}
		tp.add(it)
	}
}
