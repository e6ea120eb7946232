package kongemu

import (
	"sort"
)

// entityDef describes one DAO of Kong's Admin API: its schema, its URL
// names and the few behaviours that are not expressible as schema
// attributes (shorthands, transformations, custom output).
type entityDef struct {
	name        string // DAO name, used by /schemas/{name}
	path        string // admin_api_name: top-level collection segment
	nestedPath  string // admin_api_nested_name under the parent entity
	endpointKey string // second lookup key besides id ("" for none)
	scopedKey   bool   // endpoint key only addresses rows under a parent URL
	nestedOnly  bool   // no top-level collection (targets live under upstreams)
	fields      []*field
	cacheKey    []string // composite uniqueness, Kong's cache_key

	// fieldsFor returns the effective fields of an object (plugins pick a
	// sub-schema by name). nil means fields.
	fieldsFor func(obj map[string]any) ([]*field, *apiError)
	// shorthand rewrites sugar fields in the raw input (service url).
	shorthand func(in map[string]any) fieldErrors
	// check runs entity-level checks on the filled object.
	check func(obj map[string]any) fieldErrors
	// finish applies transformations after validation (hashing, digests,
	// normalisation); input is the request body as sent.
	finish func(s *Server, obj, input map[string]any) *apiError
	// output decorates an object for responses (certificate snis).
	output func(s *Server, obj map[string]any) map[string]any
	// split removes input keys handled outside the schema (certificate
	// snis); prepareExtra validates them against the store and returns
	// the commit step run once the row itself is stored.
	split        func(in map[string]any) map[string]any
	prepareExtra func(s *Server, obj, extra map[string]any) (func(), *apiError)
	// internal entities have no URL of their own.
	internal bool
}

func (d *entityDef) nested() string {
	if d.nestedPath != "" {
		return d.nestedPath
	}
	return d.path
}

func (d *entityDef) effectiveFields(obj map[string]any) ([]*field, *apiError) {
	if d.fieldsFor != nil {
		return d.fieldsFor(obj)
	}
	return d.fields, nil
}

// foreignFields lists the foreign-key fields of the entity.
func (d *entityDef) foreignFields() []*field {
	var out []*field
	for _, f := range d.fields {
		if f.Type() == "foreign" && !f.IsEqNull() {
			out = append(out, f)
		}
	}
	return out
}

func (d *entityDef) uniqueFields() []string {
	var out []string
	for _, f := range d.fields {
		if f.IsUnique() {
			out = append(out, f.Name())
		}
	}
	return out
}

// registry holds the entity definitions by DAO name and by URL segment.
type registry struct {
	byName map[string]*entityDef
	byPath map[string]*entityDef
	order  []string // DAO names, deterministic
}

func newRegistry(defs ...*entityDef) *registry {
	r := &registry{byName: map[string]*entityDef{}, byPath: map[string]*entityDef{}}
	for _, d := range defs {
		r.byName[d.name] = d
		if !d.internal {
			r.byPath[d.path] = d
		}
		r.order = append(r.order, d.name)
	}
	sort.Strings(r.order)
	return r
}

// children returns (entity, field) pairs whose foreign field references
// the named entity.
func (r *registry) children(name string) []struct {
	def *entityDef
	fk  *field
} {
	var out []struct {
		def *entityDef
		fk  *field
	}
	for _, n := range r.order {
		d := r.byName[n]
		for _, f := range d.foreignFields() {
			if f.Reference() == name {
				out = append(out, struct {
					def *entityDef
					fk  *field
				}{d, f})
			}
		}
	}
	return out
}

// nestedChild resolves /{parent}/{id}/{segment} to a child entity and the
// foreign field pointing at the parent.
func (r *registry) nestedChild(parent *entityDef, segment string) (*entityDef, *field) {
	for _, c := range r.children(parent.name) {
		if c.def.internal {
			continue
		}
		if c.def.nested() == segment || c.def.path == segment {
			return c.def, c.fk
		}
	}
	return nil, nil
}

func allEntities(cat pluginCatalog) *registry {
	return newRegistry(
		servicesDef(), routesDef(), consumersDef(), pluginsDef(cat),
		upstreamsDef(), targetsDef(), certificatesDef(), snisDef(),
		caCertificatesDef(), consumerGroupsDef(), consumerGroupConsumersDef(),
		vaultsDef(), keySetsDef(), keysDef(),
		keyAuthDef(), basicAuthDef(), aclsDef(), jwtDef(), hmacAuthDef(),
		oauth2Def(), mtlsAuthDef(),
	)
}
