package kongspec

import (
	"encoding/json"
	"maps"
	"slices"
)

// Field is one attribute of a Kong schema, in the shape Kong's Lua schema
// library uses (kong/db/schema). The same value drives three things: the
// JSON served by GET /schemas/..., default filling on insert, and
// validation. Keeping them in one place is what makes decK's
// "fill defaults from the served schema, then diff" produce clean diffs.
type Field struct {
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

	elements *Field
	keys     *Field
	values   *Field
	fields   []*Field

	reference string
	onDelete  string

	// check is an extra validator for scalar values (hosts, paths, ...).
	check func(v any) string
}

func newField(name, typ string) *Field { return &Field{name: name, typ: typ} }

func StringField(name string) *Field { return newField(name, "string") }
func IntField(name string) *Field    { return newField(name, "integer") }
func NumberField(name string) *Field { return newField(name, "number") }
func BoolField(name string) *Field   { return newField(name, "boolean") }
func RecordField(name string, sub ...*Field) *Field {
	f := newField(name, "record")
	f.fields = sub
	return f
}

func ArrayField(name string, elem *Field) *Field {
	f := newField(name, "array")
	f.elements = elem
	return f
}

func SetField(name string, elem *Field) *Field {
	f := newField(name, "set")
	f.elements = elem
	return f
}

func MapField(name string, k, v *Field) *Field {
	f := newField(name, "map")
	f.keys, f.values = k, v
	return f
}

func ForeignField(name, ref string) *Field {
	f := newField(name, "foreign")
	f.reference = ref
	return f
}

// Elem builds an anonymous element definition for arrays, sets and maps.
func Elem(typ string) *Field { return newField("", typ) }

func (f *Field) Required() *Field      { f.required = true; return f }
func (f *Field) Optional() *Field      { f.optional = true; return f }
func (f *Field) Default(v any) *Field  { f.hasDefault, f.def = true, v; return f }
func (f *Field) DefaultNull() *Field   { f.hasDefault, f.def = true, nil; return f }
func (f *Field) Unique() *Field        { f.unique = true; return f }
func (f *Field) Indexed() *Field       { f.indexed = true; return f }
func (f *Field) Auto() *Field          { f.auto = true; return f }
func (f *Field) UUID() *Field          { f.uuid = true; return f }
func (f *Field) Referenceable() *Field { f.referenceable = true; return f }
func (f *Field) Encrypted() *Field     { f.encrypted = true; return f }
func (f *Field) EqNull() *Field        { f.eqNull = true; return f }
func (f *Field) Hidden() *Field        { f.hidden = true; return f }
func (f *Field) OneOf(v ...any) *Field { f.oneOf = v; return f }
func (f *Field) StartsWith(s string) *Field {
	f.startsWith = s
	return f
}
func (f *Field) OnDelete(s string) *Field {
	f.onDelete = s
	return f
}

func (f *Field) Between(lo, hi int64) *Field {
	f.between = []int64{lo, hi}
	return f
}

func (f *Field) Gt(v float64) *Field {
	f.gt = &v
	return f
}

func (f *Field) LenMin(n int) *Field {
	f.lenMin = &n
	return f
}

func (f *Field) Check(fn func(v any) string) *Field {
	f.check = fn
	return f
}

// isRequired reports Kong's effective "required": records are required
// unless declared otherwise (Schema.new does this for every record).
func (f *Field) isRequired() bool {
	if f.typ == "record" && !f.optional {
		return true
	}
	return f.required
}

// attrs renders the attribute table of a field the way Kong's
// api_helpers.schema_to_jsonable does.
func (f *Field) attrs() map[string]any {
	m := map[string]any{"type": f.typ}
	if f.isRequired() {
		m["required"] = true
	}
	if f.hasDefault {
		m["default"] = CloneValue(f.def)
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

func renderFields(fs []*Field) []map[string]any {
	out := make([]map[string]any, 0, len(fs))
	for _, f := range fs {
		if f.hidden {
			continue
		}
		out = append(out, map[string]any{f.name: f.attrs()})
	}
	return out
}

func LookupField(fs []*Field, name string) *Field {
	for _, f := range fs {
		if f.name == name {
			return f
		}
	}
	return nil
}

// Common type definitions, after kong/db/schema/typedefs.lua (3.x, OSS).

var (
	HTTPProtocols = []any{"grpc", "grpcs", "http", "https"}
	AllProtocols  = []any{"grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"}
)

func TdID() *Field { return StringField("id").UUID().Auto() }

func TdCreatedAt() *Field {
	f := IntField("created_at").Auto()
	f.timestamp = true
	return f
}

func TdUpdatedAt() *Field {
	f := IntField("updated_at").Auto()
	f.timestamp = true
	return f
}

func TdTags() *Field { return SetField("tags", Elem("string").Required().Check(CheckTag)) }

func TdName(name string) *Field {
	return StringField(name).Unique().Indexed().Check(CheckName)
}

func TdProtocolsHTTP() *Field {
	return SetField("protocols", Elem("string").OneOf(HTTPProtocols...)).
		Required().Default(slices.Clone(HTTPProtocols))
}

func TdProtocols() *Field {
	return SetField("protocols", Elem("string").OneOf(AllProtocols...)).
		Required().Default(slices.Clone(HTTPProtocols))
}

func TdNoConsumer() *Field { return ForeignField("consumer", "consumers").EqNull() }
func TdNoService() *Field  { return ForeignField("service", "services").EqNull() }
func TdNoRoute() *Field    { return ForeignField("route", "routes").EqNull() }

func TdHeaderName(name string) *Field { return StringField(name).Check(CheckHeaderName) }
func TdHost(name string) *Field       { return StringField(name).Check(CheckHost) }
func TdSNI(name string) *Field        { return StringField(name).Check(CheckSNI) }
func TdPort(name string) *Field       { return IntField(name).Between(0, 65535) }

func TdPath(name string) *Field {
	return StringField(name).StartsWith("/").Check(CheckPath)
}

func TdStringArray(name string) *Field {
	return ArrayField(name, Elem("string")).Required().Default([]any{})
}

// CloneValue deep-copies a JSON-shaped value so defaults are never shared
// between stored entities.
func CloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = CloneValue(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = CloneValue(x)
		}
		return s
	case []int64:
		return slices.Clone(t)
	default:
		return v
	}
}

func CloneObject(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return CloneValue(m).(map[string]any)
}

// SchemaDoc renders a full schema document ({"fields": [...]}).
func SchemaDoc(fs []*Field, extra map[string]any) map[string]any {
	doc := map[string]any{"fields": renderFields(fs)}
	maps.Copy(doc, extra)
	return doc
}

// JSONNumber converts JSON numbers (decoded with UseNumber) to int64 when
// integral, float64 otherwise; used for values without a schema type.
func JSONNumber(n json.Number) any {
	if i, err := n.Int64(); err == nil {
		return i
	}
	f, err := n.Float64()
	if err != nil {
		return n.String()
	}
	return f
}
