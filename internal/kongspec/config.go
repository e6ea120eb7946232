package kongspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// ValidName reports whether s is in Kong's character set for names
// (typedefs.name: letters, numbers, '.', '-', '_' and '~'), non-empty.
func ValidName(s string) bool {
	return s != "" && CheckName(s) == ""
}

func nameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || strings.ContainsRune(".-_~", r)
}

// ConfigError is one reason Kong would refuse a plugin's configuration.
type ConfigError struct {
	// Path is the offending field below config (empty for the config as a
	// whole); ["@consumer"] when the plugin cannot apply to a consumer.
	Path    []string
	Message string
}

// OnConsumer is the Path of the ConfigError for a plugin that Kong does
// not allow on a consumer.
const OnConsumer = "@consumer"

// ValidateConfig checks a plugin's config the way Kong does on POST
// /plugins: JSON types, defaults filled, field constraints, then the
// plugin's entity checks. config is JSON-shaped (as decoded from CUE or
// JSON); onConsumer says the plugin is attached to a consumer. The
// plugin must be in the catalog.
func (c Catalog) ValidateConfig(name string, config map[string]any, onConsumer bool) ([]ConfigError, error) {
	p, ok := c[name]
	if !ok {
		return nil, fmt.Errorf("plugin %q: no schema", name)
	}
	// A JSON round trip gives what the target sends and Kong decodes.
	raw, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: encode config: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var cfg any
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("plugin %s: decode config: %w", name, err)
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	fields := p.Fields()
	obj := map[string]any{"name": name, "config": cfg}
	obj = FillRecord(fields, CoerceRecord(fields, obj))
	var out []ConfigError
	if errs := ValidateRecord(fields, obj); errs != nil {
		if e, ok := errs["config"]; ok {
			out = collect(out, nil, e)
		}
	}
	if f := LookupField(p.fields, "consumer"); onConsumer && f != nil && f.eqNull {
		out = append(out, ConfigError{Path: []string{OnConsumer}, Message: fmt.Sprintf("plugin %s cannot be applied to a consumer", name)})
	}
	if len(out) == 0 {
		// Kong runs entity checks only on a record whose fields are valid.
		checks := p.Check(obj)
		if e, ok := checks["config"]; ok {
			out = collect(out, nil, e)
		}
		for _, msg := range entityMessages(checks) {
			out = append(out, ConfigError{Message: msg})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Join(out[i].Path, "\x00") < strings.Join(out[j].Path, "\x00")
	})
	return out, nil
}

// collect flattens a FieldErrors tree below path.
func collect(out []ConfigError, path []string, e any) []ConfigError {
	switch t := e.(type) {
	case string:
		return append(out, ConfigError{Path: path, Message: t})
	case FieldErrors:
		return collect(out, path, map[string]any(t))
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			if k == "@entity" {
				list, _ := t[k].([]any)
				for _, m := range list {
					out = append(out, ConfigError{Path: path, Message: fmt.Sprint(m)})
				}
				continue
			}
			out = collect(out, append(path[:len(path):len(path)], k), t[k])
		}
	case []any:
		for i, x := range t {
			if x == nil {
				continue
			}
			out = collect(out, append(path[:len(path):len(path)], fmt.Sprint(i)), x)
		}
	}
	return out
}

// entityMessages are the entity-level messages of a check's result.
func entityMessages(errs FieldErrors) []string {
	list, _ := errs["@entity"].([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
