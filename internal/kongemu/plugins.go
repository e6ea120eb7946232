package kongemu

import (
	"fmt"
	"sort"
	"strings"
)

// pluginSchema is a bundled plugin: its schema.lua fields (overriding the
// generic plugin entity fields of the same name) and entity checks.
type pluginSchema struct {
	name     string
	priority int
	fields   []*field
	check    func(obj map[string]any) fieldErrors
}

// pluginBaseFields is kong/db/schema/entities/plugins.lua (3.x, OSS).
func pluginBaseFields() []*field {
	config := fRecord("config") // abstract: each plugin supplies its own
	return []*field{
		tdID(),
		fString("name").Required(),
		fString("instance_name").Unique().Check(checkName),
		tdCreatedAt(),
		tdUpdatedAt(),
		fForeign("route", "routes").DefaultNull().OnDelete("cascade"),
		fForeign("service", "services").DefaultNull().OnDelete("cascade"),
		fForeign("consumer", "consumers").DefaultNull().OnDelete("cascade"),
		config,
		tdProtocols(),
		fBool("enabled").Required().Default(true),
		tdTags(),
	}
}

// mergedFields applies a plugin's schema onto the generic plugin fields,
// like Entity.new_subschema does.
func (p *pluginSchema) mergedFields() []*field {
	base := pluginBaseFields()
	out := make([]*field, 0, len(base)+len(p.fields))
	for _, f := range base {
		if o := lookupField(p.fields, f.name); o != nil {
			out = append(out, o)
			continue
		}
		out = append(out, f)
	}
	for _, f := range p.fields {
		if lookupField(base, f.name) == nil {
			out = append(out, f)
		}
	}
	return out
}

type pluginCatalog map[string]*pluginSchema

func newPluginCatalog() pluginCatalog {
	c := pluginCatalog{}
	for _, p := range bundledPlugins() {
		c[p.name] = p
	}
	return c
}

func (c pluginCatalog) names() []string {
	out := make([]string, 0, len(c))
	for n := range c {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func pluginsDef(cat pluginCatalog) *entityDef {
	d := &entityDef{
		name: "plugins", path: "plugins", endpointKey: "instance_name",
		fields:   pluginBaseFields(),
		cacheKey: []string{"name", "route", "service", "consumer"},
	}
	d.fieldsFor = func(obj map[string]any) ([]*field, *apiError) {
		name, ok := obj["name"].(string)
		if !ok || name == "" {
			return nil, schemaViolation(fieldErrors{"name": "required field missing"})
		}
		p, ok := cat[name]
		if !ok {
			return nil, schemaViolation(fieldErrors{"name": fmt.Sprintf(
				"plugin '%s' not enabled; add it to the 'plugins' configuration property", name)})
		}
		return p.mergedFields(), nil
	}
	d.check = func(obj map[string]any) fieldErrors {
		name, _ := obj["name"].(string)
		if p := cat[name]; p != nil && p.check != nil {
			return p.check(obj)
		}
		return nil
	}
	return d
}

// Helpers for plugin entity checks that address config.* fields.

func configOf(obj map[string]any) map[string]any {
	c, _ := obj["config"].(map[string]any)
	if c == nil {
		return map[string]any{}
	}
	return c
}

func quoteConfig(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'config." + n + "'"
	}
	return strings.Join(q, ", ")
}

func atLeastOneOf(obj map[string]any, names ...string) string {
	cfg := configOf(obj)
	for _, n := range names {
		if nonEmpty(cfg[n]) {
			return ""
		}
	}
	return "at least one of these fields must be non-empty: " + quoteConfig(names)
}

func onlyOneOf(obj map[string]any, names ...string) string {
	cfg := configOf(obj)
	count := 0
	for _, n := range names {
		if nonEmpty(cfg[n]) {
			count++
		}
	}
	if count > 1 {
		return "only one of these fields must be non-empty: " + quoteConfig(names)
	}
	return ""
}

func entityErrors(msgs ...string) fieldErrors {
	errs := fieldErrors{}
	for _, m := range msgs {
		if m != "" {
			errs.entity(m)
		}
	}
	return errs
}
