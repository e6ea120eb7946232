package kongemu

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/kong/go-kong/kong"
)

// Every default must satisfy its own field: filling an empty object may
// only leave "required field missing" errors behind.
func TestSchemaDefaultsAreValid(t *testing.T) {
	cat := newPluginCatalog()
	check := func(name string, fields []*field) {
		errs := validateRecord(fields, fillRecord(fields, map[string]any{}))
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch e := v.(type) {
			case string:
				if e != "required field missing" {
					t.Errorf("%s: default of %s invalid: %s", name, path, e)
				}
			case fieldErrors:
				walk(path, map[string]any(e))
			case map[string]any:
				for k, x := range e {
					walk(path+"."+k, x)
				}
			case []any:
				for _, x := range e {
					walk(path, x)
				}
			}
		}
		walk("", map[string]any(errs))
	}
	for name, def := range allEntities(cat).byName {
		check(name, def.fields)
	}
	for name, p := range cat {
		check("plugin "+name, p.Fields())
	}
}

// go-kong must be able to turn the served schemas into defaults, and
// they must agree with what a POST stores.
func TestServedSchemasFeedGoKong(t *testing.T) {
	c, _ := newAPI(t, Options{})
	for _, name := range []string{"services", "routes", "upstreams", "targets"} {
		doc := c.must(200, "GET", "/schemas/"+name, nil)
		var entity any
		switch name {
		case "services":
			entity = &kong.Service{}
		case "routes":
			entity = &kong.Route{}
		case "upstreams":
			entity = &kong.Upstream{}
		case "targets":
			entity = &kong.Target{}
		}
		if err := kong.FillEntityDefaults(entity, doc); err != nil {
			t.Fatalf("%s: FillEntityDefaults: %v", name, err)
		}
	}
	minimal := map[string]map[string]any{
		"rate-limiting":  {"minute": 5},
		"acl":            {"allow": []any{"a"}},
		"ip-restriction": {"allow": []any{"10.0.0.0/8"}},
	}
	for _, name := range newPluginCatalog().Names() {
		doc := c.must(200, "GET", "/schemas/plugins/"+name, nil)
		p := &kong.Plugin{Name: kong.String(name), Config: kong.Configuration(minimal[name])}
		if err := kong.FillPluginsDefaults(p, doc); err != nil {
			t.Fatalf("plugin %s: FillPluginsDefaults: %v", name, err)
		}
		body := map[string]any{"name": name}
		if cfg, ok := minimal[name]; ok {
			body["config"] = cfg
		}
		stored := c.must(201, "POST", "/plugins", body)
		if got, want := roundTrip(t, stored["config"]), roundTrip(t, p.Config); !reflect.DeepEqual(got, want) {
			t.Errorf("plugin %s: stored config\n%v\ngo-kong defaults\n%v", name, got, want)
		}
		if got, want := roundTrip(t, stored["protocols"]), roundTrip(t, p.Protocols); !reflect.DeepEqual(got, want) {
			t.Errorf("plugin %s: protocols %v vs %v", name, got, want)
		}
		c.must(204, "DELETE", "/plugins/"+stored["id"].(string), nil)
	}
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
