package kongspec

import (
	"sort"
	"strings"
)

// PluginSchema is a bundled plugin: its schema.lua fields (overriding the
// generic plugin entity fields of the same name) and entity checks.
type PluginSchema struct {
	name     string
	priority int
	fields   []*Field
	check    func(obj map[string]any) FieldErrors
	// runsCode marks plugins that execute configuration as code.
	runsCode bool
	// destinations are config paths naming a host Kong connects to.
	destinations [][]string
}

// RunsCode reports a plugin that runs code from its configuration on the
// gateway (pre-function, post-function).
func (p *PluginSchema) RunsCode() bool { return p.runsCode }

// Destinations are the config fields (paths below config) holding a host
// the gateway connects to, such as rate-limiting's redis.host.
func (p *PluginSchema) Destinations() [][]string { return p.destinations }

// Name is the plugin's name, as in the plugins configuration property.
func (p *PluginSchema) Name() string { return p.name }

// Priority is the plugin's execution priority (reported by GET /).
func (p *PluginSchema) Priority() int { return p.priority }

// Check runs the plugin's entity checks on a filled plugin entity; nil
// when they pass or the plugin has none.
func (p *PluginSchema) Check(obj map[string]any) FieldErrors {
	if p.check == nil {
		return nil
	}
	return p.check(obj)
}

// pluginBaseFields is kong/db/schema/entities/plugins.lua (3.x, OSS).
func pluginBaseFields() []*Field {
	config := RecordField("config") // abstract: each plugin supplies its own
	return []*Field{
		TdID(),
		StringField("name").Required(),
		StringField("instance_name").Unique().Check(CheckName),
		TdCreatedAt(),
		TdUpdatedAt(),
		ForeignField("route", "routes").DefaultNull().OnDelete("cascade"),
		ForeignField("service", "services").DefaultNull().OnDelete("cascade"),
		ForeignField("consumer", "consumers").DefaultNull().OnDelete("cascade"),
		config,
		TdProtocols(),
		BoolField("enabled").Required().Default(true),
		TdTags(),
	}
}

// PluginBaseFields are the generic plugin entity's fields, before a plugin
// schema is applied (the abstract config record).
func PluginBaseFields() []*Field { return pluginBaseFields() }

// Fields applies the plugin's schema onto the generic plugin fields, like
// Entity.new_subschema does.
func (p *PluginSchema) Fields() []*Field {
	base := pluginBaseFields()
	out := make([]*Field, 0, len(base)+len(p.fields))
	for _, f := range base {
		if o := LookupField(p.fields, f.name); o != nil {
			out = append(out, o)
			continue
		}
		out = append(out, f)
	}
	for _, f := range p.fields {
		if LookupField(base, f.name) == nil {
			out = append(out, f)
		}
	}
	return out
}

// Catalog is a set of plugin schemas by name.
type Catalog map[string]*PluginSchema

// Bundled returns a fresh catalog of the bundled plugins k3sync knows the
// schema of (plugins_bundled.go). Each call builds new schemas, so callers
// may keep it without sharing state.
func Bundled() Catalog {
	c := Catalog{}
	for _, p := range bundledPlugins() {
		c[p.name] = p
	}
	return c
}

// Names lists the catalog's plugin names, sorted.
func (c Catalog) Names() []string {
	out := make([]string, 0, len(c))
	for n := range c {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
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
		if NonEmpty(cfg[n]) {
			return ""
		}
	}
	return "at least one of these fields must be non-empty: " + quoteConfig(names)
}

func onlyOneOf(obj map[string]any, names ...string) string {
	cfg := configOf(obj)
	count := 0
	for _, n := range names {
		if NonEmpty(cfg[n]) {
			count++
		}
	}
	if count > 1 {
		return "only one of these fields must be non-empty: " + quoteConfig(names)
	}
	return ""
}

func entityErrors(msgs ...string) FieldErrors {
	errs := FieldErrors{}
	for _, m := range msgs {
		if m != "" {
			errs.Entity(m)
		}
	}
	return errs
}
