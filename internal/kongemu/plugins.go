package kongemu

import (
	"fmt"

	"github.com/k3sync/k3sync/internal/kongspec"
)

// pluginCatalog is the plugins "available_on_server": the bundled plugins
// of kongspec, whose schemas k3sync's loader checks tenants against too.
type pluginCatalog = kongspec.Catalog

func newPluginCatalog() pluginCatalog { return kongspec.Bundled() }

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
		return p.Fields(), nil
	}
	d.check = func(obj map[string]any) fieldErrors {
		name, _ := obj["name"].(string)
		if p := cat[name]; p != nil {
			return p.Check(obj)
		}
		return nil
	}
	return d
}
