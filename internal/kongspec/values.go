package kongspec

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
)

// FieldErrors mirrors the "fields" table of a Kong schema-violation error:
// nested maps for records, slices for arrays, strings for leaf messages
// and "@entity" for entity-level checks.
type FieldErrors map[string]any

func (e FieldErrors) Entity(msg string) {
	list, _ := e["@entity"].([]any)
	e["@entity"] = append(list, msg)
}

// coerce converts decoded JSON (with json.Number) into the value types the
// schema asks for. Type mismatches are left in place for validate to report.
func coerce(f *Field, v any) any {
	switch t := v.(type) {
	case json.Number:
		switch f.typ {
		case "integer":
			if i, err := t.Int64(); err == nil {
				return i
			}
			if fl, err := t.Float64(); err == nil && fl == math.Trunc(fl) {
				return int64(fl)
			}
			return t // reported by validate
		case "number":
			fl, err := t.Float64()
			if err != nil {
				return t
			}
			return fl
		default:
			return JSONNumber(t)
		}
	case map[string]any:
		switch f.typ {
		case "record":
			return CoerceRecord(f.fields, t)
		case "map":
			out := make(map[string]any, len(t))
			for k, x := range t {
				out[k] = coerce(f.values, x)
			}
			return out
		default:
			return coerceAny(t)
		}
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			if f.elements != nil {
				out[i] = coerce(f.elements, x)
			} else {
				out[i] = coerceAny(x)
			}
		}
		return out
	}
	return v
}

func CoerceRecord(fs []*Field, in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		if f := LookupField(fs, k); f != nil {
			out[k] = coerce(f, v)
		} else {
			out[k] = coerceAny(v)
		}
	}
	return out
}

// coerceAny converts json.Number in untyped values (e.g. "json" fields).
func coerceAny(v any) any {
	switch t := v.(type) {
	case json.Number:
		return JSONNumber(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = coerceAny(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = coerceAny(x)
		}
		return out
	}
	return v
}

// FillRecord applies Kong's insert-context defaults (process_auto_fields
// with context "insert"): missing fields get their default or null,
// records are recursed into when present or required, sets are
// de-duplicated. Unknown keys are kept so validate can reject them.
func FillRecord(fs []*Field, in map[string]any) map[string]any {
	out := make(map[string]any, len(fs))
	for k, v := range in {
		out[k] = v
	}
	for _, f := range fs {
		v, present := in[f.name]
		out[f.name] = fillValue(f, v, present)
	}
	return out
}

func fillValue(f *Field, v any, present bool) any {
	if !present {
		switch {
		case f.hasDefault:
			v = CloneValue(f.def)
		case f.typ == "record" && f.isRequired():
			v = map[string]any{}
		default:
			return nil
		}
	}
	switch f.typ {
	case "record":
		if m, ok := v.(map[string]any); ok {
			return FillRecord(f.fields, m)
		}
	case "array", "set":
		list, ok := v.([]any)
		if !ok {
			return v
		}
		if f.typ == "set" {
			list = Dedupe(list)
		}
		if f.elements != nil && f.elements.typ == "record" {
			out := make([]any, len(list))
			for i, x := range list {
				if m, ok := x.(map[string]any); ok {
					out[i] = FillRecord(f.elements.fields, m)
				} else {
					out[i] = x
				}
			}
			return out
		}
		return list
	case "map":
		if m, ok := v.(map[string]any); ok && f.values != nil && f.values.typ == "record" {
			out := make(map[string]any, len(m))
			for k, x := range m {
				if xm, ok := x.(map[string]any); ok {
					out[k] = FillRecord(f.values.fields, xm)
				} else {
					out[k] = x
				}
			}
			return out
		}
	}
	return v
}

func Dedupe(list []any) []any {
	out := make([]any, 0, len(list))
	seen := map[string]bool{}
	for _, x := range list {
		k := fmt.Sprintf("%T:%v", x, x)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, x)
	}
	return out
}

// MergeValues is Kong's Schema:merge_values used by PATCH: top-level keys
// from the patch win, records are merged recursively, arrays replaced.
func MergeValues(fs []*Field, top, bottom map[string]any) map[string]any {
	out := make(map[string]any, len(bottom)+len(top))
	for k, v := range bottom {
		out[k] = v
	}
	for k, v := range top {
		f := LookupField(fs, k)
		tm, topIsMap := v.(map[string]any)
		bm, bottomIsMap := bottom[k].(map[string]any)
		if f != nil && f.typ == "record" && topIsMap && bottomIsMap {
			out[k] = MergeValues(f.fields, tm, bm)
			continue
		}
		out[k] = v
	}
	return out
}

// ValidateRecord checks a filled record against its fields.
func ValidateRecord(fs []*Field, rec map[string]any) FieldErrors {
	errs := FieldErrors{}
	for k := range rec {
		if LookupField(fs, k) == nil {
			errs[k] = "unknown field"
		}
	}
	for _, f := range fs {
		if e := validateValue(f, rec[f.name]); e != nil {
			errs[f.name] = e
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func validateValue(f *Field, v any) any {
	if v == nil {
		if f.isRequired() {
			return "required field missing"
		}
		return nil
	}
	if f.eqNull {
		return "value must be null"
	}
	switch f.typ {
	case "string":
		s, ok := v.(string)
		if !ok {
			return "expected a string"
		}
		minLen := 1
		if f.lenMin != nil {
			minLen = *f.lenMin
		}
		if len(s) < minLen {
			return fmt.Sprintf("length must be at least %d", minLen)
		}
		if f.uuid && !IsUUID(s) {
			return "expected a valid UUID"
		}
		if f.startsWith != "" && !strings.HasPrefix(s, f.startsWith) {
			return "should start with: " + f.startsWith
		}
	case "integer":
		if _, ok := v.(int64); !ok {
			return "expected an integer"
		}
	case "number":
		if _, ok := ToFloat(v); !ok {
			return "expected a number"
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return "expected a boolean"
		}
	case "foreign":
		return validateForeign(v)
	case "record":
		m, ok := v.(map[string]any)
		if !ok {
			return "expected a record"
		}
		if e := ValidateRecord(f.fields, m); e != nil {
			return e
		}
		return nil
	case "array", "set":
		return validateList(f, v)
	case "map":
		return validateMap(f, v)
	case "json":
		return nil
	}
	return validateScalarConstraints(f, v)
}

func validateScalarConstraints(f *Field, v any) any {
	if f.oneOf != nil {
		found := false
		for _, o := range f.oneOf {
			if fmt.Sprint(o) == fmt.Sprint(v) {
				found = true
				break
			}
		}
		if !found {
			opts := make([]string, len(f.oneOf))
			for i, o := range f.oneOf {
				opts[i] = fmt.Sprint(o)
			}
			return "expected one of: " + strings.Join(opts, ", ")
		}
	}
	if n, ok := ToFloat(v); ok {
		if f.between != nil && (n < float64(f.between[0]) || n > float64(f.between[1])) {
			return fmt.Sprintf("value should be between %d and %d", f.between[0], f.between[1])
		}
		if f.gt != nil && !(n > *f.gt) {
			return fmt.Sprintf("value must be greater than %v", *f.gt)
		}
	}
	if f.check != nil {
		if msg := f.check(v); msg != "" {
			return msg
		}
	}
	return nil
}

func validateForeign(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return "expected a record"
	}
	errs := FieldErrors{}
	for k := range m {
		if k != "id" {
			errs[k] = "unknown field"
		}
	}
	id, ok := m["id"].(string)
	switch {
	case m["id"] == nil:
		errs["id"] = "missing primary key"
	case !ok || !IsUUID(id):
		errs["id"] = "expected a valid UUID"
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func validateList(f *Field, v any) any {
	list, ok := v.([]any)
	if !ok {
		if f.typ == "set" {
			return "expected a set"
		}
		return "expected an array"
	}
	if f.lenMin != nil && len(list) < *f.lenMin {
		return fmt.Sprintf("length must be at least %d", *f.lenMin)
	}
	if f.elements == nil {
		return nil
	}
	var errs []any
	for i, x := range list {
		if e := validateValue(f.elements, x); e != nil {
			if errs == nil {
				errs = make([]any, len(list))
			}
			errs[i] = e
		}
	}
	if errs == nil {
		return nil
	}
	return errs
}

func validateMap(f *Field, v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return "expected a map"
	}
	errs := FieldErrors{}
	for k, x := range m {
		if f.keys != nil {
			if e := validateValue(f.keys, k); e != nil {
				errs[k] = e
				continue
			}
		}
		if f.values != nil {
			if e := validateValue(f.values, x); e != nil {
				errs[k] = e
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func ToFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case int64:
		return float64(t), true
	case float64:
		return t, true
	case int:
		return float64(t), true
	}
	return 0, false
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// FlattenErrors renders the human message Kong builds for schema
// violations: "schema violation (a: x)" or "N schema violations (a: x; b: y)".
func FlattenErrors(errs FieldErrors) string {
	var parts []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case string:
			if prefix == "" {
				parts = append(parts, t)
			} else {
				parts = append(parts, prefix+": "+t)
			}
		case FieldErrors:
			walk(prefix, map[string]any(t))
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(t)) {
				if k == "@entity" {
					walk(prefix, t[k])
					continue
				}
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, t[k])
			}
		case []any:
			for _, x := range t {
				if x != nil {
					walk(prefix, x)
				}
			}
		}
	}
	walk("", map[string]any(errs))
	if len(parts) == 1 {
		return "schema violation (" + parts[0] + ")"
	}
	return fmt.Sprintf("%d schema violations (%s)", len(parts), strings.Join(parts, "; "))
}
