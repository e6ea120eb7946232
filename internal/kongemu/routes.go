package kongemu

import (
	"net/http"
	"net/url"
)

func unescape(s string) (string, error) { return url.PathUnescape(s) }

// route maps a request to its Kong route name and handler. Route names
// follow Kong's lapis routes ("/services/:services/routes").
func (s *Server) route(req *request) (string, handlerFunc) {
	segs := req.segs
	n := len(segs)
	if n == 0 {
		return "/", only(req, http.MethodGet, (*Server).handleRoot)
	}
	switch segs[0] {
	case "status":
		if n == 1 {
			return "/status", only(req, http.MethodGet, (*Server).handleStatus)
		}
	case "endpoints":
		if n == 1 {
			return "/endpoints", only(req, http.MethodGet, (*Server).handleEndpoints)
		}
	case "schemas":
		return s.routeSchemas(req)
	case "tags":
		switch n {
		case 1:
			return "/tags", only(req, http.MethodGet, (*Server).handleTags)
		case 2:
			return "/tags/:tags", only(req, http.MethodGet, (*Server).handleTags)
		}
	case "plugins":
		if n == 2 && segs[1] == "enabled" {
			return "/plugins/enabled", only(req, http.MethodGet, (*Server).handlePluginsEnabled)
		}
	case "consumer_groups":
		if n >= 3 && segs[2] == "consumers" {
			return s.routeGroupMembers(req)
		}
	case "consumers":
		if n == 3 && segs[2] == "consumer_groups" {
			return "/consumers/:consumers/consumer_groups", only(req, http.MethodGet, (*Server).handleConsumerGroupsOf)
		}
	case "upstreams":
		if n == 4 && segs[2] == "targets" && segs[3] == "all" {
			return "/upstreams/:upstreams/targets/all", only(req, http.MethodGet, (*Server).handleNestedList)
		}
		if n == 3 && segs[2] == "health" {
			return "/upstreams/:upstreams/health", only(req, http.MethodGet, (*Server).handleUpstreamHealth)
		}
	case "filter-chains":
		return "/filter-chains", func(*Server, *request) (int, any, *apiError) {
			return 0, nil, badRequest("this endpoint is only available when wasm is enabled")
		}
	}
	def, ok := s.reg.byPath[segs[0]]
	if !ok || def.nestedOnly {
		return "unknown", nil
	}
	base := "/" + def.path
	key := ":" + def.path
	switch n {
	case 1:
		switch req.method {
		case http.MethodGet:
			return base, (*Server).handleList
		case http.MethodPost:
			return base, (*Server).handleCreate
		}
		return base, notAllowed
	case 2:
		return base + "/" + key, entityMethods(req)
	case 3:
		if child, _ := s.reg.nestedChild(def, segs[2]); child != nil {
			pattern := base + "/" + key + "/" + segs[2]
			switch req.method {
			case http.MethodGet:
				return pattern, (*Server).handleNestedList
			case http.MethodPost:
				return pattern, (*Server).handleNestedCreate
			}
			return pattern, notAllowed
		}
		if f := lookupField(def.fields, segs[2]); f != nil && f.Type() == "foreign" && !f.IsEqNull() {
			pattern := base + "/" + key + "/" + segs[2]
			switch req.method {
			case http.MethodGet:
				return pattern, (*Server).handleForeignGet
			case http.MethodPatch:
				return pattern, (*Server).handleForeignPatch
			}
			return pattern, notAllowed
		}
	case 4:
		if child, _ := s.reg.nestedChild(def, segs[2]); child != nil {
			return base + "/" + key + "/" + segs[2] + "/:" + child.path, entityMethods(req)
		}
	}
	return "unknown", nil
}

func entityMethods(req *request) handlerFunc {
	switch req.method {
	case http.MethodGet:
		return (*Server).handleGet
	case http.MethodPut:
		return (*Server).handlePut
	case http.MethodPatch:
		return (*Server).handlePatch
	case http.MethodDelete:
		return (*Server).handleDelete
	}
	return notAllowed
}

func notAllowed(*Server, *request) (int, any, *apiError) { return 0, nil, methodNotAllowed() }

func only(req *request, method string, h handlerFunc) handlerFunc {
	if req.method != method {
		return notAllowed
	}
	return h
}

func (s *Server) routeSchemas(req *request) (string, handlerFunc) {
	segs := req.segs
	switch len(segs) {
	case 2:
		return "/schemas/:db_entity_name", only(req, http.MethodGet, (*Server).handleEntitySchema)
	case 3:
		if segs[1] == "plugins" {
			if segs[2] == "validate" {
				return "/schemas/plugins/validate", only(req, http.MethodPost, (*Server).handleValidate)
			}
			return "/schemas/plugins/:name", only(req, http.MethodGet, (*Server).handlePluginSchema)
		}
		if segs[2] == "validate" {
			return "/schemas/:db_entity_name/validate", only(req, http.MethodPost, (*Server).handleValidate)
		}
	}
	return "unknown", nil
}

func (s *Server) routeGroupMembers(req *request) (string, handlerFunc) {
	switch len(req.segs) {
	case 3:
		switch req.method {
		case http.MethodGet:
			return "/consumer_groups/:consumer_groups/consumers", (*Server).handleGroupMembers
		case http.MethodPost:
			return "/consumer_groups/:consumer_groups/consumers", (*Server).handleGroupAddMembers
		case http.MethodDelete:
			return "/consumer_groups/:consumer_groups/consumers", (*Server).handleGroupRemoveMembers
		}
		return "/consumer_groups/:consumer_groups/consumers", notAllowed
	case 4:
		pattern := "/consumer_groups/:consumer_groups/consumers/:consumers"
		switch req.method {
		case http.MethodGet:
			return pattern, (*Server).handleGroupMember
		case http.MethodDelete:
			return pattern, (*Server).handleGroupRemoveMembers
		}
		return pattern, notAllowed
	}
	return "unknown", nil
}
