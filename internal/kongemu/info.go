package kongemu

import (
	"fmt"
	"net/http"
	"sort"
)

// handleRoot serves GET /, which go-kong and decK read for the version
// and configuration.database.
func (s *Server) handleRoot(*request) (int, any, *apiError) {
	available := map[string]any{}
	for _, name := range s.plugins.Names() {
		available[name] = map[string]any{"version": s.opts.Version, "priority": s.plugins[name].Priority()}
	}
	enabled := map[string]bool{}
	for _, row := range s.db.all("plugins") {
		enabled[row["name"].(string)] = true
	}
	inCluster := make([]string, 0, len(enabled))
	for n := range enabled {
		inCluster = append(inCluster, n)
	}
	sort.Strings(inCluster)
	return http.StatusOK, map[string]any{
		"version":     s.opts.Version,
		"edition":     "community",
		"hostname":    s.opts.Hostname,
		"node_id":     s.nodeID,
		"tagline":     "Welcome to kong",
		"lua_version": "LuaJIT 2.1.0-20231117",
		"timers":      map[string]any{"running": 0, "pending": 0},
		"pids":        map[string]any{"master": 1, "workers": []int{2}},
		"plugins": map[string]any{
			"available_on_server": available,
			"enabled_in_cluster":  inCluster,
			"disabled_on_server":  map[string]any{},
		},
		"configuration": map[string]any{
			"database":       "postgres",
			"role":           "traditional",
			"router_flavor":  "traditional_compatible",
			"admin_listen":   []string{"127.0.0.1:8001"},
			"proxy_listen":   []string{"0.0.0.0:8000"},
			"plugins":        []string{"bundled"},
			"loaded_plugins": boolSet(s.plugins.Names()),
			"pg_database":    "kong",
			"pg_host":        "127.0.0.1",
			"pg_port":        5432,
			"wasm":           false,
			"enforce_rbac":   "off",
		},
	}, nil
}

func boolSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func (s *Server) handleStatus(*request) (int, any, *apiError) {
	return http.StatusOK, map[string]any{
		"database": map[string]any{"reachable": true},
		"server": map[string]any{
			"connections_accepted": 1, "connections_active": 1, "connections_handled": 1,
			"connections_reading": 0, "connections_waiting": 0, "connections_writing": 1,
			"total_requests": 1,
		},
		"memory": map[string]any{
			"lua_shared_dicts": map[string]any{},
			"workers_lua_vms":  []any{},
		},
	}, nil
}

// handleEndpoints lists the route names this emulator serves.
func (s *Server) handleEndpoints(*request) (int, any, *apiError) {
	var data []string
	data = append(data, "/", "/status", "/endpoints", "/tags", "/tags/{tags}",
		"/schemas/{db_entity_name}", "/schemas/{db_entity_name}/validate",
		"/schemas/plugins/{name}", "/schemas/plugins/validate", "/plugins/enabled")
	for _, name := range s.reg.order {
		d := s.reg.byName[name]
		if d.internal {
			continue
		}
		if !d.nestedOnly {
			data = append(data, "/"+d.path, "/"+d.path+"/{"+d.path+"}")
		}
		for _, c := range s.reg.children(name) {
			if c.def.internal {
				continue
			}
			data = append(data, "/"+d.path+"/{"+d.path+"}/"+c.def.nested(),
				"/"+d.path+"/{"+d.path+"}/"+c.def.nested()+"/{"+c.def.path+"}")
		}
	}
	sort.Strings(data)
	return http.StatusOK, map[string]any{"data": data}, nil
}

func (s *Server) handlePluginsEnabled(*request) (int, any, *apiError) {
	return http.StatusOK, map[string]any{"enabled_plugins": s.plugins.Names()}, nil
}

func (s *Server) handleEntitySchema(req *request) (int, any, *apiError) {
	def, ok := s.reg.byName[req.segs[1]]
	if !ok || def.internal {
		return 0, nil, &apiError{status: http.StatusNotFound, body: map[string]any{
			"message": fmt.Sprintf("No entity named '%s'", req.segs[1]),
		}}
	}
	extra := map[string]any{}
	if def.endpointKey != "" {
		extra["endpoint_key"] = def.endpointKey
	}
	return http.StatusOK, schemaDoc(def.fields, extra), nil
}

func (s *Server) handlePluginSchema(req *request) (int, any, *apiError) {
	p, ok := s.plugins[req.segs[2]]
	if !ok {
		return 0, nil, &apiError{status: http.StatusNotFound, body: map[string]any{
			"message": fmt.Sprintf("No plugin named '%s'", req.segs[2]),
		}}
	}
	return http.StatusOK, schemaDoc(p.Fields(), nil), nil
}

// handleValidate serves POST /schemas/{entity}/validate and
// /schemas/plugins/validate: schema checks only, nothing is stored.
func (s *Server) handleValidate(req *request) (int, any, *apiError) {
	name := req.segs[1]
	def, ok := s.reg.byName[name]
	if !ok || def.internal {
		return 0, nil, &apiError{status: http.StatusNotFound, body: map[string]any{
			"message": fmt.Sprintf("No entity named '%s'", name),
		}}
	}
	if _, err := s.write(def, modeValidate, req.body, nil, nil); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"message": "schema validation successful"}, nil
}

// handleUpstreamHealth reports every target as HEALTHCHECKS_OFF: the
// emulator proxies no traffic.
func (s *Server) handleUpstreamHealth(req *request) (int, any, *apiError) {
	up := s.db.lookup(s.reg.byName["upstreams"], req.segs[1], "", "")
	if up == nil {
		return 0, nil, notFound()
	}
	var data []any
	for _, t := range s.db.rowsWhere("targets", "upstream", up["id"].(string)) {
		row := cloneObject(t)
		row["health"] = "HEALTHCHECKS_OFF"
		row["data"] = map[string]any{"addresses": []any{}}
		data = append(data, row)
	}
	if data == nil {
		data = []any{}
	}
	return http.StatusOK, map[string]any{"data": data, "next": nil, "node_id": s.nodeID}, nil
}
