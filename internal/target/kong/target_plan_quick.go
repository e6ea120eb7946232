package kong

import (
	"context"
	"encoding/json"
	"reflect"
	"runtime"
	"strings"
	"sync"

	"github.com/kong/go-database-reconciler/pkg/file"
	kstate "github.com/kong/go-database-reconciler/pkg/state"
	"github.com/kong/go-database-reconciler/pkg/utils"
	gokong "github.com/kong/go-kong/kong"
	"golang.org/x/sync/errgroup"
)

// quickChecks lets plans conclude tenants with the quick check; tests
// turn it off to compare with go-database-reconciler's diffs.
var quickChecks = true

// quickCheck concludes, without go-database-reconciler's syncer, that a
// tenant has nothing to do on the gateway: each desired entity is built
// as file.Get builds it (the ID and creation time of the live entity of
// the same name, the schema defaults of go-database-reconciler's own
// defaulter, references by ID) and compared with its live entity as the
// syncer's differ compares them (the library's EqualWithOpts for
// services, routes, consumers, ACL groups, upstreams and targets; for
// plugins the differ's steps — the plugin schema's defaults, Kong's
// deprecated fields cleared — then a comparison stricter than the
// differ's); and every live entity of the tenant's slice must be paired
// with a desired one, so the syncer would delete nothing.
//
// The check only ever concludes "nothing to do". A tenant it cannot
// prove so — one difference, a shape it does not handle (adoptions, gRPC
// routes, expression routes, IPv6 targets, partials, consumer groups, a
// name that is another entity's ID), an error — goes on to the batch and
// the syncer, which find the changes. Being stricter than the differ
// only ever sends a tenant on; a wrong "nothing to do" would hide a
// change, which is why every step above is the library's own and the
// tests compare the check with the syncer on drift of every kind
// (target_plan_quick_test.go). Building go-database-reconciler's
// databases for a tenant costs far more than comparing its few
// entities: this is what makes a plan on a cold start cheaper than
// decK's diff (docs/performance.md).
type quickCheck struct {
	client    *gokong.Client
	defaulter *utils.Defaulter
	mu        sync.Mutex
	schemas   map[string]map[string]any // plugin schemas, by plugin name
	// filled are desired plugins with their schema's defaults, by what
	// the defaults are filled from (fillDefaults): tenants often share a
	// plugin's configuration, and filling walks the plugin's schema.
	filled map[string]filledPlugin
	// equal are configsEqual's answers, by its key.
	equal map[string]bool
}

// filledPlugin is what go-kong's FillPluginsDefaultsWithPartials sets.
type filledPlugin struct {
	config    gokong.Configuration
	protocols []*string
	enabled   *bool
}

// newQuickCheck builds the defaulter file.Get builds (from the gateway's
// entity schemas, read through the session's cache).
func newQuickCheck(ctx context.Context, s *session) (*quickCheck, error) {
	d, err := utils.GetDefaulter(ctx, utils.DefaulterOpts{Client: s.client, KongDefaults: file.KongDefaults{}})
	if err != nil {
		return nil, err //nolint:wrapcheck // a plan without the check diffs every tenant
	}
	return &quickCheck{client: s.client, defaulter: d, schemas: map[string]map[string]any{}, filled: map[string]filledPlugin{}, equal: map[string]bool{}}, nil
}

// quickClean runs the quick check on the tenants of a plan, on every
// core, and reports those it found with nothing to do.
func (t *Target) quickClean(ctx context.Context, s *session, tps []*tenantPlan) []bool {
	clean := make([]bool, len(tps))
	if !quickChecks || alwaysSync || len(tps) == 0 {
		return clean
	}
	q, err := newQuickCheck(ctx, s)
	if err != nil {
		return clean
	}
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, tp := range tps {
		g.Go(func() error {
			clean[i] = q.clean(ctx, tp)
			return nil
		})
	}
	_ = g.Wait()
	n := 0
	for i, tp := range tps {
		if !clean[i] {
			continue
		}
		if err := t.planActions(tp, nil, nil); err != nil {
			tp.items, clean[i] = nil, false
			continue
		}
		n++
	}
	t.diffs.Add(int64(n))
	t.quick.Add(int64(n))
	return clean
}

// pluginSchema is the full schema of a plugin, as the syncer's differ
// reads it.
func (q *quickCheck) pluginSchema(ctx context.Context, name string) (map[string]any, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if sc, ok := q.schemas[name]; ok {
		return sc, nil
	}
	sc, err := q.client.Plugins.GetFullSchema(ctx, &name)
	if err != nil {
		return nil, err //nolint:wrapcheck // the tenant goes on to the syncer
	}
	if sc, err = preencoded(sc); err != nil {
		return nil, err
	}
	q.schemas[name] = sc
	return sc, nil
}

// fillDefaults fills a desired plugin with its schema's defaults as the
// plugin differ does (FillPluginsDefaultsWithPartials, without partials),
// once per plan for each distinct name, config, protocols and enabled
// flag, the function's only inputs besides the schema, and returns what
// it set, shared and not to be changed, and that key.
func (q *quickCheck) fillDefaults(p *gokong.Plugin, schema map[string]any) (filledPlugin, string, bool) {
	b, err := json.Marshal(struct {
		Name      *string
		Config    gokong.Configuration
		Protocols []*string
		Enabled   *bool
	}{p.Name, p.Config, p.Protocols, p.Enabled})
	if err != nil {
		return filledPlugin{}, "", false
	}
	key := string(b)
	q.mu.Lock()
	f, ok := q.filled[key]
	q.mu.Unlock()
	if ok {
		return f, key, true
	}
	if gokong.FillPluginsDefaultsWithPartials(p, schema, nil) != nil {
		return filledPlugin{}, "", false
	}
	f = filledPlugin{config: p.Config, protocols: p.Protocols, enabled: p.Enabled}
	q.mu.Lock()
	q.filled[key] = f
	q.mu.Unlock()
	return f, key, true
}

// copyValue copies a plugin config value. With plain, every record
// becomes a map[string]any, as a JSON round trip makes it (the differ
// compares such copies); without, each keeps its type:
// ClearUnmatchingDeprecations only walks records that are map[string]any.
func copyValue(v any, plain bool) any {
	switch v := v.(type) {
	case gokong.Configuration:
		switch {
		case v == nil:
			return v
		case plain:
			return copyValue(map[string]any(v), plain)
		}
		out := make(gokong.Configuration, len(v))
		for k, e := range v {
			out[k] = copyValue(e, plain)
		}
		return out
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = copyValue(e, plain)
		}
		return out
	case []any:
		if v == nil {
			return v
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e, plain)
		}
		return out
	}
	return v
}

// preencoded is a schema whose top-level values are their JSON encoding.
// go-kong's functions that take a schema encode it to JSON on every call
// and read that with gjson: this schema encodes to the same bytes, for
// the price of copying them, where encoding the nested maps of a
// plugin's schema again for each tenant cost more than the rest of the
// check.
func preencoded(sc map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(sc))
	for k, v := range sc {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err //nolint:wrapcheck // the tenant goes on to the syncer
		}
		out[k] = json.RawMessage(b)
	}
	return out, nil
}

// clean reports whether the tenant certainly has nothing to do (see
// quickCheck).
func (q *quickCheck) clean(ctx context.Context, tp *tenantPlan) bool {
	if tp.desired == nil || len(tp.adopted) > 0 || len(tp.retag) > 0 || len(tp.adoptKeys) > 0 {
		return false
	}
	c, err := content(tp.desired)
	if err != nil {
		return false
	}
	r := &tp.live.raw
	services, ok1 := byKey(r.Services, func(e *gokong.Service) *string { return e.Name })
	routes, ok2 := byKey(r.Routes, func(e *gokong.Route) *string { return e.Name })
	consumers, ok3 := byKey(r.Consumers, func(e *gokong.Consumer) *string { return e.Username })
	upstreams, ok4 := byKey(r.Upstreams, func(e *gokong.Upstream) *string { return e.Name })
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return false
	}
	// go-database-reconciler looks an entity up by ID or by name: a name
	// that is the ID of a live entity of its kind is left to it.
	ids := liveIDs(r)
	p := pairs{}
	serviceIDs, routeIDs, consumerIDs := map[string]string{}, map[string]string{}, map[string]string{}
	for _, fs := range c.Services {
		name := str(fs.Name)
		live := services[name]
		if live == nil || ids[KindService+"/"+name] || !p.pair(KindService, live.ID) {
			return false
		}
		want := fs.Service
		want.ID = live.ID
		if q.defaulter.Set(&want) != nil {
			return false
		}
		want.CreatedAt = live.CreatedAt
		if !(&kstate.Service{Service: *live}).EqualWithOpts(&kstate.Service{Service: want}, false, true) {
			return false
		}
		serviceIDs[name] = *live.ID
		for _, fr := range fs.Routes {
			if !q.routeClean(fr, live, routes, ids, p, routeIDs) {
				return false
			}
		}
	}
	for _, fu := range c.Upstreams {
		name := str(fu.Name)
		live := upstreams[name]
		if live == nil || ids[KindUpstream+"/"+name] || !p.pair(KindUpstream, live.ID) {
			return false
		}
		want := fu.Upstream
		want.ID = live.ID
		if q.defaulter.Set(&want) != nil {
			return false
		}
		want.CreatedAt = live.CreatedAt
		if !(&kstate.Upstream{Upstream: *live}).EqualWithOpts(&kstate.Upstream{Upstream: want}, false, true) ||
			!q.targetsClean(fu, live, r.Targets, ids, p) {
			return false
		}
	}
	for _, fc := range c.Consumers {
		name := str(fc.Username)
		live := consumers[name]
		if live == nil || ids[KindConsumer+"/"+name] || !p.pair(KindConsumer, live.ID) {
			return false
		}
		want := fc.Consumer
		want.ID = live.ID
		want.CreatedAt = live.CreatedAt
		if !(&kstate.Consumer{Consumer: *live}).EqualWithOpts(&kstate.Consumer{Consumer: want}, false, true) ||
			!aclsClean(fc, live, r.ACLGroups, ids, p) {
			return false
		}
		consumerIDs[name] = *live.ID
	}
	for _, fp := range c.Plugins {
		if !q.pluginClean(ctx, fp, r.Plugins, p, serviceIDs, routeIDs, consumerIDs) {
			return false
		}
	}
	// Every live entity paired with a desired one: the syncer would
	// delete nothing.
	return len(p) == len(r.Services)+len(r.Routes)+len(r.Upstreams)+len(r.Targets)+len(r.Consumers)+len(r.ACLGroups)+len(r.Plugins)
}

// one is the entity of es that matches: nil when none does, and false
// when several do.
func one[E any](es []*E, match func(*E) bool) (*E, bool) {
	var found *E
	for _, e := range es {
		if match(e) {
			if found != nil {
				return nil, false
			}
			found = e
		}
	}
	return found, true
}

// liveIDs are the kind/ID keys of the entities of a live slice.
func liveIDs(r *utils.KongRawState) map[string]bool {
	ids := map[string]bool{}
	add := func(kind string, id *string) { ids[kind+"/"+str(id)] = true }
	for _, e := range r.Services {
		add(KindService, e.ID)
	}
	for _, e := range r.Routes {
		add(KindRoute, e.ID)
	}
	for _, e := range r.Consumers {
		add(KindConsumer, e.ID)
	}
	for _, e := range r.Upstreams {
		add(KindUpstream, e.ID)
	}
	for _, e := range r.Targets {
		add(KindTarget, e.ID)
	}
	for _, e := range r.ACLGroups {
		add(KindACLGroup, e.ID)
	}
	return ids
}

// pairs are the live entities paired with desired ones, by kind and ID.
type pairs map[string]bool

// pair pairs a live entity; false when it has no ID or was paired
// already (two desired entities would meet one live entity).
func (p pairs) pair(kind string, id *string) bool {
	if id == nil || p[kind+"/"+*id] {
		return false
	}
	p[kind+"/"+*id] = true
	return true
}

// byKey indexes entities by a key; false when one has none or two share
// one.
func byKey[E any](es []*E, key func(*E) *string) (map[string]*E, bool) {
	m := make(map[string]*E, len(es))
	for _, e := range es {
		k := key(e)
		if k == nil || m[*k] != nil {
			return nil, false
		}
		m[*k] = e
	}
	return m, true
}

// routeClean builds a route of service live as file.Get does and compares
// it with the live route of its name as the route differ does.
func (q *quickCheck) routeClean(fr *file.FRoute, service *gokong.Service, routes map[string]*gokong.Route, ids map[string]bool, p pairs, routeIDs map[string]string) bool {
	name := str(fr.Name)
	live := routes[name]
	if live == nil || ids[KindRoute+"/"+name] || fr.Expression != nil || !p.pair(KindRoute, live.ID) {
		return false
	}
	// gRPC routes get strip_path from file.Get's own rule: left to it.
	for _, pr := range fr.Protocols {
		if pr == nil || *pr == "grpc" || *pr == "grpcs" {
			return false
		}
	}
	want := fr.Route
	want.ID = live.ID
	want.Service = &gokong.Service{ID: service.ID, Name: service.Name}
	if q.defaulter.Set(&want) != nil {
		return false
	}
	want.CreatedAt = live.CreatedAt
	if !(&kstate.Route{Route: *live}).EqualWithOpts(&kstate.Route{Route: want}, false, true, false) {
		return false
	}
	routeIDs[name] = *live.ID
	return true
}

// targetsClean compares an upstream's targets, built as file.Get builds
// them, with the live targets of that upstream.
func (q *quickCheck) targetsClean(fu file.FUpstream, upstream *gokong.Upstream, live []*gokong.Target, ids map[string]bool, p pairs) bool {
	for _, ft := range fu.Targets {
		addr := str(ft.Target.Target)
		// IPv6 addresses are rewritten by file.Get: left to it.
		if strings.Count(addr, ":") > 1 || ids[KindTarget+"/"+addr] {
			return false
		}
		match, ok := one(live, func(lt *gokong.Target) bool {
			return lt.Upstream != nil && str(lt.Upstream.ID) == *upstream.ID && str(lt.Target) == addr
		})
		if !ok || match == nil || !p.pair(KindTarget, match.ID) {
			return false
		}
		want := ft.Target
		want.Upstream = &gokong.Upstream{ID: upstream.ID}
		want.ID = match.ID
		if q.defaulter.Set(&want) != nil {
			return false
		}
		if !(&kstate.Target{Target: *match}).EqualWithOpts(&kstate.Target{Target: want}, false, true, false) {
			return false
		}
	}
	return true
}

// aclsClean compares a consumer's ACL groups, built as file.Get builds
// them, with the live ones of that consumer.
func aclsClean(fc file.FConsumer, consumer *gokong.Consumer, live []*gokong.ACLGroup, ids map[string]bool, p pairs) bool {
	for _, g := range fc.ACLGroups {
		group := str(g.Group)
		if ids[KindACLGroup+"/"+group] {
			return false
		}
		match, ok := one(live, func(la *gokong.ACLGroup) bool {
			return la.Consumer != nil && str(la.Consumer.ID) == *consumer.ID && str(la.Group) == group
		})
		if !ok || match == nil || !p.pair(KindACLGroup, match.ID) {
			return false
		}
		want := *g
		want.ID = match.ID
		want.Consumer = &gokong.Consumer{ID: consumer.ID, Username: consumer.Username}
		if !(&kstate.ACLGroup{ACLGroup: *match}).EqualWithOpts(&kstate.ACLGroup{ACLGroup: want}, false, true, false) {
			return false
		}
	}
	return true
}

// pluginClean builds a plugin as file.Get does (its parents resolved to
// the IDs of the live entities of their names) and compares it with the
// live plugin of the same name and parents as the plugin differ does: the
// plugin schema's defaults filled in, deprecated fields that do not match
// cleared, then compared field by field — strictly, where the differ
// sorts tags, protocols and nested arrays first.
func (q *quickCheck) pluginClean(ctx context.Context, fp file.FPlugin, live []*gokong.Plugin, p pairs, serviceIDs, routeIDs, consumerIDs map[string]string) bool {
	want := fp.Plugin
	if want.Name == nil || want.Partials != nil || want.ConsumerGroup != nil || want.InstanceName != nil {
		return false
	}
	// Parents are named in the ID field (content): each must be a desired
	// entity of the tenant, paired with a live one.
	parent := func(ref *string, ids map[string]string) (*string, bool) {
		if ref == nil {
			return nil, false
		}
		id, ok := ids[*ref]
		return &id, ok
	}
	var sID, rID, cID *string
	var ok bool
	if want.Service != nil {
		if sID, ok = parent(want.Service.ID, serviceIDs); !ok {
			return false
		}
	}
	if want.Route != nil {
		if rID, ok = parent(want.Route.ID, routeIDs); !ok {
			return false
		}
	}
	if want.Consumer != nil {
		if cID, ok = parent(want.Consumer.ID, consumerIDs); !ok {
			return false
		}
	}
	match, ok := one(live, func(lp *gokong.Plugin) bool {
		return str(lp.Name) == *want.Name && refID(lp.Service) == str(sID) && routeRefID(lp.Route) == str(rID) &&
			consumerRefID(lp.Consumer) == str(cID) && lp.ConsumerGroup == nil
	})
	if !ok || match == nil || len(match.Partials) > 0 || !p.pair(KindPlugin, match.ID) {
		return false
	}
	want.ID = match.ID
	want.Service, want.Route, want.Consumer = serviceRef(sID), routeRef(rID), consumerRef(cID)
	if want.Config == nil {
		want.Config = gokong.Configuration{}
	}
	schema, err := q.pluginSchema(ctx, *want.Name)
	if err != nil {
		return false
	}
	// The differ: defaults on the desired plugin; the live one's partial
	// configuration (it has none: an empty config at most); deprecated
	// fields cleared; then EqualWithOpts(ignoreID=false, ignoreTS=true,
	// ignoreForeign=false): creation times ignored, references compared
	// by ID. The configs are compared apart (configsEqual); state.Get,
	// which builds the differ's current state, drops a live plugin's
	// empty list of partials.
	f, fkey, ok := q.fillDefaults(&want, schema)
	if !ok {
		return false
	}
	liveConfig, err := json.Marshal(match.Config)
	if err != nil || !q.configsEqual(f.config, match.Config, fkey+"\x00"+string(liveConfig), schema) {
		return false
	}
	want.Protocols, want.Enabled = f.protocols, f.enabled
	current := *match
	want.Config, current.Config = nil, nil
	current.Partials = nil
	want.CreatedAt, current.CreatedAt = nil, nil
	current.Service, current.Route, current.Consumer = serviceRef(sID), routeRef(rID), consumerRef(cID)
	return reflect.DeepEqual(want, current)
}

// configsEqual reports whether a desired plugin config, with its
// schema's defaults (filled), and a live one are equal as the plugin
// differ compares them: Kong's deprecated fields that do not match
// cleared from copies of both (ClearUnmatchingDeprecations, which reads
// nothing but the two configs and the schema), then compared after a
// JSON round trip (Configuration.DeepCopy), which forgets which map type
// holds a record — strictly, where the differ sorts nested arrays. The
// answer is kept for the plan by key, the desired plugin's fill key and
// the live config's JSON: tenants often share both.
func (q *quickCheck) configsEqual(filled, live gokong.Configuration, key string, schema map[string]any) bool {
	q.mu.Lock()
	eq, ok := q.equal[key]
	q.mu.Unlock()
	if ok {
		return eq
	}
	want := gokong.Plugin{Config: copyValue(filled, false).(gokong.Configuration)}
	current := gokong.Plugin{Config: copyConfig(live)}
	if current.Config == nil {
		current.Config = gokong.Configuration{}
	}
	eq = gokong.ClearUnmatchingDeprecations(&want, &current, schema) == nil &&
		reflect.DeepEqual(copyConfig(want.Config), copyConfig(current.Config))
	q.mu.Lock()
	q.equal[key] = eq
	q.mu.Unlock()
	return eq
}

// refID, routeRefID and consumerRefID are the IDs of references ("" for
// none).
func refID(s *gokong.Service) string {
	if s == nil {
		return ""
	}
	return str(s.ID)
}

func routeRefID(r *gokong.Route) string {
	if r == nil {
		return ""
	}
	return str(r.ID)
}

func consumerRefID(c *gokong.Consumer) string {
	if c == nil {
		return ""
	}
	return str(c.ID)
}

// serviceRef, routeRef and consumerRef are references by ID (nil for
// none).
func serviceRef(id *string) *gokong.Service {
	if id == nil {
		return nil
	}
	return &gokong.Service{ID: id}
}

func routeRef(id *string) *gokong.Route {
	if id == nil {
		return nil
	}
	return &gokong.Route{ID: id}
}

func consumerRef(id *string) *gokong.Consumer {
	if id == nil {
		return nil
	}
	return &gokong.Consumer{ID: id}
}

// copyConfig copies a plugin config with every record a map[string]any,
// as a JSON round trip leaves it.
func copyConfig(c gokong.Configuration) gokong.Configuration {
	if c == nil {
		return nil
	}
	return gokong.Configuration(copyValue(map[string]any(c), true).(map[string]any))
}
