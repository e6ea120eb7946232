package kongemu

import (
	"encoding/json"
	"maps"
	"slices"
)

// field is one attribute of a Kong schema, in the shape Kong's Lua schema
// library uses (kong/db/schema). The same value drives three things: the
// JSON served by GET /schemas/..., default filling on insert, and
// validation. Keeping them in one place is what makes decK's
// "fill defaults from the served schema, then diff" produce clean diffs.
type field struct {
	name string
	typ  string // string, integer, number, boolean, array, set, map, record, foreign, json

	required   bool
	optional   bool // record only: Kong makes records required unless told otherwise
	hasDefault bool
	def        any // nil with hasDefault means "default = null"

	auto, uuid, timestamp, unique, indexed bool
	referenceable, encrypted               bool
	eqNull                                 bool // typedefs.no_consumer & co: must be null
	hidden                                 bool // accepted and returned, not served (e.g. ttl)

	oneOf      []any
	between    []int64
	gt         *float64
	lenMin     *int
	startsWith string

	elements *field
	keys     *field
	values   *field
	fields   []*field

	reference string
	onDelete  string

	// check is an extra validator for scalar values (hosts, paths, ...).
	check func(v any) string
}

func newField(name, typ string) *field { return &field{name: name, typ: typ} }

func fString(name string) *field { return newField(name, "string") }
func fInt(name string) *field    { return newField(name, "integer") }
func fNumber(name string) *field { return newField(name, "number") }
func fBool(name string) *field   { return newField(name, "boolean") }
func fRecord(name string, sub ...*field) *field {
	f := newField(name, "record")
	f.fields = sub
	return f
}

func fArray(name string, elem *field) *field {
	f := newField(name, "array")
	f.elements = elem
	return f
}

func fSet(name string, elem *field) *field {
	f := newField(name, "set")
	f.elements = elem
	return f
}

func fMap(name string, k, v *field) *field {
	f := newField(name, "map")
	f.keys, f.values = k, v
	return f
}

func fForeign(name, ref string) *field {
	f := newField(name, "foreign")
	f.reference = ref
	return f
}

// elem builds an anonymous element definition for arrays, sets and maps.
func elem(typ string) *field { return newField("", typ) }

func (f *field) Required() *field      { f.required = true; return f }
func (f *field) Optional() *field      { f.optional = true; return f }
func (f *field) Default(v any) *field  { f.hasDefault, f.def = true, v; return f }
func (f *field) DefaultNull() *field   { f.hasDefault, f.def = true, nil; return f }
func (f *field) Unique() *field        { f.unique = true; return f }
func (f *field) Indexed() *field       { f.indexed = true; return f }
func (f *field) Auto() *field          { f.auto = true; return f }
func (f *field) UUID() *field          { f.uuid = true; return f }
func (f *field) Referenceable() *field { f.referenceable = true; return f }
func (f *field) Encrypted() *field     { f.encrypted = true; return f }
func (f *field) EqNull() *field        { f.eqNull = true; return f }
func (f *field) Hidden() *field        { f.hidden = true; return f }
func (f *field) OneOf(v ...any) *field { f.oneOf = v; return f }
func (f *field) StartsWith(s string) *field {
	f.startsWith = s
	return f
}
func (f *field) OnDelete(s string) *field {
	f.onDelete = s
	return f
}

func (f *field) Between(lo, hi int64) *field {
	f.between = []int64{lo, hi}
	return f
}

func (f *field) Gt(v float64) *field {
	f.gt = &v
	return f
}

func (f *field) LenMin(n int) *field {
	f.lenMin = &n
	return f
}

func (f *field) Check(fn func(v any) string) *field {
	f.check = fn
	return f
}

// isRequired reports Kong's effective "required": records are required
// unless declared otherwise (Schema.new does this for every record).
func (f *field) isRequired() bool {
	if f.typ == "record" && !f.optional {
		return true
	}
	return f.required
}

// attrs renders the attribute table of a field the way Kong's
// api_helpers.schema_to_jsonable does.
func (f *field) attrs() map[string]any {
	m := map[string]any{"type": f.typ}
	if f.isRequired() {
		m["required"] = true
	}
	if f.hasDefault {
		m["default"] = cloneValue(f.def)
	}
	flags := []struct {
		on   bool
		name string
	}{
		{f.auto, "auto"}, {f.uuid, "uuid"}, {f.timestamp, "timestamp"},
		{f.unique, "unique"}, {f.indexed, "indexed"},
		{f.referenceable, "referenceable"}, {f.encrypted, "encrypted"},
	}
	for _, fl := range flags {
		if fl.on {
			m[fl.name] = true
		}
	}
	if f.eqNull {
		m["eq"] = nil
	}
	if f.oneOf != nil {
		m["one_of"] = f.oneOf
	}
	if f.between != nil {
		m["between"] = f.between
	}
	if f.gt != nil {
		m["gt"] = *f.gt
	}
	if f.lenMin != nil {
		m["len_min"] = *f.lenMin
	}
	if f.startsWith != "" {
		m["starts_with"] = f.startsWith
	}
	if f.elements != nil {
		m["elements"] = f.elements.attrs()
	}
	if f.keys != nil {
		m["keys"] = f.keys.attrs()
	}
	if f.values != nil {
		m["values"] = f.values.attrs()
	}
	if f.typ == "record" {
		m["fields"] = renderFields(f.fields)
	}
	if f.reference != "" {
		m["reference"] = f.reference
	}
	if f.onDelete != "" {
		m["on_delete"] = f.onDelete
	}
	return m
}

func renderFields(fs []*field) []map[string]any {
	out := make([]map[string]any, 0, len(fs))
	for _, f := range fs {
		if f.hidden {
			continue
		}
		out = append(out, map[string]any{f.name: f.attrs()})
	}
	return out
}

func lookupField(fs []*field, name string) *field {
	for _, f := range fs {
		if f.name == name {
			return f
		}
	}
	return nil
}

// Common type definitions, after kong/db/schema/typedefs.lua (3.x, OSS).

var (
	httpProtocols = []any{"grpc", "grpcs", "http", "https"}
	allProtocols  = []any{"grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"}
)

func tdID() *field { return fString("id").UUID().Auto() }

func tdCreatedAt() *field {
	f := fInt("created_at").Auto()
	f.timestamp = true
	return f
}

func tdUpdatedAt() *field {
	f := fInt("updated_at").Auto()
	f.timestamp = true
	return f
}

func tdTags() *field { return fSet("tags", elem("string").Required().Check(checkTag)) }

func tdName(name string) *field {
	return fString(name).Unique().Indexed().Check(checkName)
}

func tdProtocolsHTTP() *field {
	return fSet("protocols", elem("string").OneOf(httpProtocols...)).
		Required().Default(slices.Clone(httpProtocols))
}

func tdProtocols() *field {
	return fSet("protocols", elem("string").OneOf(allProtocols...)).
		Required().Default(slices.Clone(httpProtocols))
}

func tdNoConsumer() *field { return fForeign("consumer", "consumers").EqNull() }
func tdNoService() *field  { return fForeign("service", "services").EqNull() }
func tdNoRoute() *field    { return fForeign("route", "routes").EqNull() }

func tdHeaderName(name string) *field { return fString(name).Check(checkHeaderName) }
func tdHost(name string) *field       { return fString(name).Check(checkHost) }
func tdSNI(name string) *field        { return fString(name).Check(checkSNI) }
func tdPort(name string) *field       { return fInt(name).Between(0, 65535) }

func tdPath(name string) *field {
	return fString(name).StartsWith("/").Check(checkPath)
}

func tdStringArray(name string) *field {
	return fArray(name, elem("string")).Required().Default([]any{})
}

// cloneValue deep-copies a JSON-shaped value so defaults are never shared
// between stored entities.
func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = cloneValue(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = cloneValue(x)
		}
		return s
	case []int64:
		return slices.Clone(t)
	default:
		return v
	}
}

func cloneObject(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return cloneValue(m).(map[string]any)
}

// schemaDoc renders a full schema document ({"fields": [...]}).
func schemaDoc(fs []*field, extra map[string]any) map[string]any {
	doc := map[string]any{"fields": renderFields(fs)}
	maps.Copy(doc, extra)
	return doc
}

// jsonNumber converts JSON numbers (decoded with UseNumber) to int64 when
// integral, float64 otherwise; used for values without a schema type.
func jsonNumber(n json.Number) any {
	if i, err := n.Int64(); err == nil {
		return i
	}
	f, err := n.Float64()
	if err != nil {
		return n.String()
	}
	return f
}
