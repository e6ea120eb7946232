package review

import (
	"slices"
	"strings"

	"github.com/k3sync/k3sync/internal/kafkaspec"
	"github.com/k3sync/k3sync/internal/plan"
)

// Violation is a planned change to what a tenant outside the pull
// request's scope owns.
type Violation struct {
	// Key is the change's; Key.Tenant is the tenant it is planned for.
	Key    plan.Key
	Action plan.Action
	// Owner is the tenant whose resource it is.
	Owner string
	// Pending is Owner's own change to the same name, pending on the
	// tracked branch: Owner still holds it live. Nil when the change
	// itself is planned for Owner, whose files the pull request does not
	// change.
	Pending *plan.Change
}

// name is what only one tenant may hold: a namespace on a cluster, a topic
// or user on a Kafka cluster, a Kong entity on a gateway. The loader
// claims the same names.
type name struct {
	system       plan.System
	target, kind string
	name         string
}

// Kinds of names.
const (
	nameNamespace = "namespace"
	nameTopic     = "topic"
	nameUser      = "user"
)

// Kong kinds whose names are claimed, as the Kong target keys them.
var kongNamed = map[string]bool{"service": true, "route": true, "consumer": true, "upstream": true}

// checkOwnership lists the changes of p that reach outside the scope:
// changes planned for a tenant the pull request does not change, and
// changes to a name that another such tenant still holds live, which
// shows as that tenant's own change to it pending on the tracked branch
// (a delete held back by a sync window, a suspension, a failure). pending
// plans the tenants of the tracked branch outside s that may hold one of
// names (the names p changes, as the changes spell them); it is called
// only when p changes a name, and may return nil.
func checkOwnership(p *plan.Plan, s Scope, pending func(names []string) *plan.Plan) []Violation {
	var out []Violation
	var named []plan.Change
	for _, c := range p.Changes {
		if !s.Has(c.Tenant) {
			out = append(out, Violation{Key: c.Key, Action: c.Action, Owner: c.Tenant})
			continue
		}
		if _, ok := nameOf(c.Key); ok {
			named = append(named, c)
		}
	}
	if len(named) == 0 {
		return out
	}
	base := pending(spelled(named))
	if base == nil {
		return out
	}
	held := map[name][]*plan.Change{}
	for i, c := range base.Changes {
		if n, ok := nameOf(c.Key); ok && !s.Has(c.Tenant) {
			held[n] = append(held[n], &base.Changes[i])
		}
	}
	for _, c := range named {
		n, _ := nameOf(c.Key)
		if pc := pendingFor(held[n], c.Key); pc != nil && pc.Tenant != c.Tenant {
			out = append(out, Violation{Key: c.Key, Action: c.Action, Owner: pc.Tenant, Pending: pc})
		}
	}
	return out
}

// spelled is the names the changes touch, as their keys spell them: a
// namespace, a topic, a user, a Kong entity's name. Sorted, once each.
func spelled(changes []plan.Change) []string {
	var out []string
	for _, c := range changes {
		n, _ := nameOf(c.Key)
		switch {
		case n.kind == nameTopic:
			out = append(out, c.Name) // not the collision key
		case n.kind == nameUser && c.Kind == "acl":
			out = append(out, n.name)
		case n.kind == nameUser:
			out = append(out, c.Name)
		default:
			out = append(out, n.name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// pendingFor picks, among the pending changes to one name, the change to
// the same resource as k, else the first.
func pendingFor(pending []*plan.Change, k plan.Key) *plan.Change {
	for _, pc := range pending {
		if pc.Kind == k.Kind && pc.Namespace == k.Namespace && pc.Name == k.Name {
			return pc
		}
	}
	if len(pending) == 0 {
		return nil
	}
	return pending[0]
}

// nameOf is the name a change touches: a Kubernetes object's namespace, a
// Kafka topic or the user of a quota or ACL, a named Kong entity.
func nameOf(k plan.Key) (name, bool) {
	switch k.System {
	case plan.Kubernetes:
		ns := k.Namespace
		if k.Kind == "Namespace" {
			ns = k.Name
		}
		return name{plan.Kubernetes, k.Target, nameNamespace, ns}, ns != ""
	case plan.Kafka:
		switch k.Kind {
		case "topic":
			return name{plan.Kafka, k.Target, nameTopic, kafkaspec.CollisionKey(k.Name)}, true
		case "user", "quota":
			return name{plan.Kafka, k.Target, nameUser, k.Name}, true
		case "acl":
			// "User:payments.api allow read topic …": the principal's user.
			principal, _, _ := strings.Cut(k.Name, " ")
			user, ok := strings.CutPrefix(principal, "User:")
			return name{plan.Kafka, k.Target, nameUser, user}, ok && user != ""
		}
	case plan.Kong:
		if kongNamed[k.Kind] {
			return name{plan.Kong, k.Target, k.Kind, k.Name}, true
		}
	}
	return name{}, false
}
