package kong

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	kstate "github.com/kong/go-database-reconciler/pkg/state"
	gokong "github.com/kong/go-kong/kong"

	"github.com/k3sync/k3sync/internal/plan"
)

// Kinds of the changes of a Kong plan.
const (
	KindService    = "service"
	KindRoute      = "route"
	KindPlugin     = "plugin"
	KindConsumer   = "consumer"
	KindUpstream   = "upstream"
	KindTarget     = "target"
	KindCredential = "credential"
	KindACLGroup   = "acl-group"
)

// levels is the dependency table: creates and updates by ascending level,
// deletes by descending level. It is go-database-reconciler's order
// (pkg/diff/order.go), which performs them, plus key-auth credentials,
// which k3sync creates after the syncer is done and deletes before it
// starts.
var levels = map[string]int{
	KindConsumer:   0,
	KindService:    1,
	KindUpstream:   1,
	KindACLGroup:   1,
	KindRoute:      2,
	KindTarget:     2,
	KindPlugin:     3,
	KindCredential: 4,
}

// entityID is the ID of an entity in the state store and in a tenant's
// plan: kind/name.
func entityID(kind, name string) string { return kind + "/" + name }

// namer names entities: references in go-database-reconciler's states
// sometimes carry only an ID (a target's upstream), so names are looked
// up in the states involved.
type namer struct {
	names map[string]string
}

func newNamer(states ...*kstate.KongState) (*namer, error) {
	n := &namer{names: map[string]string{}}
	for _, s := range states {
		if s == nil {
			continue
		}
		ups, err := s.Upstreams.GetAll()
		if err != nil {
			return nil, fmt.Errorf("upstreams: %w", err)
		}
		for _, u := range ups {
			n.add(u.ID, u.Name)
		}
		svcs, err := s.Services.GetAll()
		if err != nil {
			return nil, fmt.Errorf("services: %w", err)
		}
		for _, sv := range svcs {
			n.add(sv.ID, sv.Name)
		}
		routes, err := s.Routes.GetAll()
		if err != nil {
			return nil, fmt.Errorf("routes: %w", err)
		}
		for _, r := range routes {
			n.add(r.ID, r.Name)
		}
		consumers, err := s.Consumers.GetAll()
		if err != nil {
			return nil, fmt.Errorf("consumers: %w", err)
		}
		for _, c := range consumers {
			n.add(c.ID, c.Username)
		}
	}
	return n, nil
}

func (n *namer) add(id, name *string) {
	if id != nil && name != nil {
		n.names[*id] = *name
	}
}

// ref names a referenced entity: its name when the reference has one,
// else the name of its ID, else its ID.
func (n *namer) ref(id, name *string) string {
	if name != nil && *name != "" {
		return *name
	}
	if id == nil {
		return ""
	}
	if nm, ok := n.names[*id]; ok {
		return nm
	}
	return *id
}

// identify returns the plan kind and name of an entity of a
// go-database-reconciler state or event.
func (n *namer) identify(obj any) (kind, name string, ok bool) {
	switch e := obj.(type) {
	case *kstate.Service:
		return KindService, n.ref(e.ID, e.Name), true
	case *kstate.Route:
		return KindRoute, n.ref(e.ID, e.Name), true
	case *kstate.Consumer:
		return KindConsumer, n.ref(e.ID, e.Username), true
	case *kstate.Upstream:
		return KindUpstream, n.ref(e.ID, e.Name), true
	case *kstate.Target:
		up := ""
		if e.Upstream != nil {
			up = n.ref(e.Upstream.ID, e.Upstream.Name)
		}
		return KindTarget, up + "/" + str(e.Target.Target), true
	case *kstate.Plugin:
		return KindPlugin, n.pluginName(&e.Plugin), true
	case *kstate.ACLGroup:
		c := ""
		if e.Consumer != nil {
			c = n.ref(e.Consumer.ID, e.Consumer.Username)
		}
		return KindACLGroup, c + "/" + str(e.Group), true
	}
	return "", "", false
}

// pluginName is parent kind/parent name/plugin name, as pluginName of a
// desired plugin.
func (n *namer) pluginName(p *gokong.Plugin) string {
	var service, route, consumer string
	if p.Service != nil {
		service = n.ref(p.Service.ID, p.Service.Name)
	}
	if p.Route != nil {
		route = n.ref(p.Route.ID, p.Route.Name)
	}
	if p.Consumer != nil {
		consumer = n.ref(p.Consumer.ID, p.Consumer.Username)
	}
	return pluginKey(service, route, consumer, str(p.Name))
}

// references are the fields that point at other entities; documents
// replace them by the entity's name.
var references = []string{"service", "route", "consumer", "upstream", "consumer_group"}

// document is an entity as compared and remembered: its JSON form without
// IDs and timestamps, references by name, null fields absent.
func (n *namer) document(obj any) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	delete(doc, "id")
	delete(doc, "created_at")
	delete(doc, "updated_at")
	for _, ref := range references {
		r, ok := doc[ref].(map[string]any)
		if !ok {
			continue
		}
		id, _ := r["id"].(string)
		name, _ := r["name"].(string)
		if name == "" {
			name, _ = r["username"].(string)
		}
		doc[ref] = n.ref(&id, &name)
	}
	return prune(doc), nil
}

// prune drops null fields and empty records, recursively.
func prune(m map[string]any) map[string]any {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			if len(prune(x)) == 0 {
				delete(m, k)
			}
		}
	}
	return m
}

// flatten maps the leaf paths of a document (config.minute) to their
// values; lists are leaves.
func flatten(doc map[string]any) map[string]any {
	out := map[string]any{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
				continue
			}
			out[prefix+k] = v
		}
	}
	walk("", doc)
	return out
}

// fieldChanges compares live and desired documents field by field. A
// field is drift when Git did not change it since k3sync last applied the
// entity (last holds that flattened document; nil when unknown): then
// live moved away from what k3sync applied.
func fieldChanges(live, desired, last map[string]any) []plan.FieldChange {
	l, d := flatten(live), flatten(desired)
	paths := make([]string, 0, len(l)+len(d))
	for p := range l {
		paths = append(paths, p)
	}
	for p := range d {
		if _, ok := l[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var out []plan.FieldChange
	for _, p := range paths {
		before, after := l[p], d[p]
		if reflect.DeepEqual(before, after) {
			continue
		}
		f := plan.FieldChange{Path: p, Before: before, After: after}
		if last != nil {
			// A path missing from last was null when k3sync applied it.
			f.Drift = reflect.DeepEqual(last[p], after)
		}
		out = append(out, f)
	}
	return out
}

// str dereferences an optional string.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
