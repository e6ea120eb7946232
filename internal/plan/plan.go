package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// System is one of the three systems k3sync manages.
type System string

// Systems, in apply order.
const (
	Kubernetes System = "kubernetes"
	Kafka      System = "kafka"
	Kong       System = "kong"
)

// Systems lists the systems in apply order.
var Systems = []System{Kubernetes, Kafka, Kong}

// SystemOrder is the place of s in Systems: earlier systems apply first.
func SystemOrder(s System) int { return slices.Index(Systems, s) }

// Action is what a change does.
type Action string

// Actions.
const (
	Create  Action = "create"
	Update  Action = "update"
	Delete  Action = "delete"
	Orphan  Action = "orphan"
	Blocked Action = "blocked"
	// Adopt takes a resource that exists and that no tenant owns into
	// the tenant's inventory, with k3sync's marks, and updates the fields
	// that differ from Git (listed as the change's fields).
	Adopt Action = "adopt"
)

// Actions lists every action, in the order summaries show them.
var Actions = []Action{Create, Update, Delete, Orphan, Blocked, Adopt}

// Key identifies a resource across all systems.
type Key struct {
	Tenant string `json:"tenant"`
	System System `json:"system"`
	// Target is the cluster, Kafka cluster or gateway name.
	Target    string `json:"target"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String formats the key as system/target/kind/[namespace/]name.
func (k Key) String() string {
	parts := []string{string(k.System), k.Target, k.Kind}
	if k.Namespace != "" {
		parts = append(parts, k.Namespace)
	}
	return strings.Join(append(parts, k.Name), "/")
}

// Resource is the key without tenant and system: kind [namespace/]name.
func (k Key) Resource() string {
	if k.Namespace != "" {
		return k.Kind + " " + k.Namespace + "/" + k.Name
	}
	return k.Kind + " " + k.Name
}

// FieldChange is one field that differs.
type FieldChange struct {
	// Path is the field's path, dot-separated, list items as [key=value]
	// or [index].
	Path string `json:"path"`
	// Before is the live value, nil when the field is added.
	Before any `json:"before,omitempty"`
	// After is the desired value, nil when the field is removed.
	After any `json:"after,omitempty"`
	// Drift: live differs from what k3sync last applied.
	Drift bool `json:"drift,omitempty"`
	// Manager is who changed the field out of band, where the system knows
	// (a Kubernetes field manager).
	Manager string `json:"manager,omitempty"`
	// Sensitive values are never rendered.
	Sensitive bool `json:"sensitive,omitempty"`
}

// Change is one planned change to one resource.
type Change struct {
	Key
	Action Action        `json:"action"`
	Fields []FieldChange `json:"fields,omitempty"`
	// Drift: some of the change reverts an out-of-band edit.
	Drift bool     `json:"drift"`
	Notes []string `json:"notes,omitempty"`
	// Level orders changes within a target (see the package doc).
	Level int `json:"-"`
}

// Plan is the set of changes for some tenants.
type Plan struct {
	// Revision is the Git commit the desired state came from.
	Revision string   `json:"revision,omitempty"`
	Changes  []Change `json:"changes"`
	// Errors are targets that could not be planned; their changes are
	// unknown, so the plan is incomplete.
	Errors []TargetError `json:"errors,omitempty"`
}

// TargetError is a target that could not be planned.
type TargetError struct {
	Tenant  string `json:"tenant,omitempty"`
	System  System `json:"system"`
	Target  string `json:"target"`
	Message string `json:"message"`
}

// HasChanges reports whether applying the plan would change anything.
func (p *Plan) HasChanges() bool {
	for _, c := range p.Changes {
		if c.Action != Blocked {
			return true
		}
	}
	return false
}

// Blocked reports whether the plan has changes k3sync refuses to make.
func (p *Plan) Blocked() bool {
	return slices.ContainsFunc(p.Changes, func(c Change) bool { return c.Action == Blocked })
}

// Summary counts the changes per action and the drifted ones.
type Summary struct {
	Create  int `json:"create"`
	Update  int `json:"update"`
	Delete  int `json:"delete"`
	Orphan  int `json:"orphan"`
	Blocked int `json:"blocked"`
	Adopt   int `json:"adopt,omitempty"`
	Drift   int `json:"drift"`
}

// Summary returns the counts of p.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			s.Create++
		case Update:
			s.Update++
		case Delete:
			s.Delete++
		case Orphan:
			s.Orphan++
		case Blocked:
			s.Blocked++
		case Adopt:
			s.Adopt++
		}
		if c.Drift {
			s.Drift++
		}
	}
	return s
}

// Total is the number of changes.
func (s Summary) Total() int { return s.Create + s.Update + s.Delete + s.Orphan + s.Blocked + s.Adopt }

// String is "2 to create, 1 to update, 0 to delete, 0 to orphan, 0 blocked (1 drifted)".
func (s Summary) String() string {
	str := fmt.Sprintf("%d to create, %d to update, %d to delete, %d to orphan, %d blocked", s.Create, s.Update, s.Delete, s.Orphan, s.Blocked)
	if s.Adopt > 0 {
		str += fmt.Sprintf(", %d to adopt", s.Adopt)
	}
	if s.Drift > 0 {
		str += fmt.Sprintf(" (%d drifted)", s.Drift)
	}
	return str
}

// Add appends changes and keeps the plan sorted.
func (p *Plan) Add(changes ...Change) {
	p.Changes = append(p.Changes, changes...)
	Sort(p.Changes)
}

// Tenants returns the tenants with changes, sorted.
func (p *Plan) Tenants() []string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, c.Tenant)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Sort sorts changes in apply order.
func Sort(changes []Change) {
	slices.SortStableFunc(changes, Compare)
}

// Compare orders two changes as Sort does.
func Compare(a, b Change) int {
	if c := cmp.Or(
		cmp.Compare(a.Tenant, b.Tenant),
		cmp.Compare(SystemOrder(a.System), SystemOrder(b.System)),
		cmp.Compare(a.Target, b.Target),
	); c != 0 {
		return c
	}
	ad, bd := a.Action == Delete, b.Action == Delete
	switch {
	case ad && !bd:
		return 1
	case !ad && bd:
		return -1
	case ad && bd:
		if c := cmp.Compare(b.Level, a.Level); c != 0 {
			return c
		}
	default:
		if c := cmp.Compare(a.Level, b.Level); c != 0 {
			return c
		}
	}
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}
