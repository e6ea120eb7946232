package kongemu

import (
	"net/http"
	"sort"
)

// Consumer-group membership, in the shape go-kong's ConsumerGroupObject
// and ConsumerGroupConsumerService expect.

func (s *Server) groupMembers(groupID string) []map[string]any {
	var out []map[string]any
	for _, m := range s.db.rowsWhere("consumer_group_consumers", "consumer_group", groupID) {
		if c := s.db.get("consumers", refID(m["consumer"])); c != nil {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return rowID(out[i]) < rowID(out[j]) })
	return out
}

func (s *Server) groupObject(group map[string]any, withConsumers bool) map[string]any {
	out := map[string]any{"consumer_group": cloneObject(group)}
	if withConsumers {
		list := []any{}
		for _, c := range s.groupMembers(group["id"].(string)) {
			list = append(list, cloneObject(c))
		}
		out["consumers"] = list
	}
	return out
}

func (s *Server) lookupGroup(key string) map[string]any {
	return s.db.lookup(s.reg.byName["consumer_groups"], key, "", "")
}

func (s *Server) handleGroupMembers(req *request) (int, any, *apiError) {
	group := s.lookupGroup(req.segs[1])
	if group == nil {
		return 0, nil, notFound()
	}
	return s.page(req, s.groupMembers(group["id"].(string)), rowID, cloneObject)
}

func (s *Server) handleGroupMember(req *request) (int, any, *apiError) {
	group := s.lookupGroup(req.segs[1])
	consumer := s.db.lookup(s.reg.byName["consumers"], req.segs[3], "", "")
	if group == nil || consumer == nil {
		return 0, nil, notFound()
	}
	for _, c := range s.groupMembers(group["id"].(string)) {
		if c["id"] == consumer["id"] {
			return http.StatusOK, map[string]any{"consumer": cloneObject(c), "consumer_group": cloneObject(group)}, nil
		}
	}
	return 0, nil, notFound()
}

// handleGroupAddMembers accepts {"consumer": "name-or-id"} or a list.
func (s *Server) handleGroupAddMembers(req *request) (int, any, *apiError) {
	group := s.lookupGroup(req.segs[1])
	if group == nil {
		return 0, nil, notFound()
	}
	var keys []string
	switch v := plainForm(req.body["consumer"]).(type) {
	case string:
		keys = []string{v}
	case []any:
		for _, x := range v {
			k, ok := x.(string)
			if !ok {
				return 0, nil, badRequest("must provide consumer")
			}
			keys = append(keys, k)
		}
	default:
		return 0, nil, badRequest("must provide consumer")
	}
	consumersDef := s.reg.byName["consumers"]
	var added []any
	for _, k := range keys {
		c := s.db.lookup(consumersDef, k, "", "")
		if c == nil {
			return 0, nil, badRequest("Consumer '" + k + "' not found")
		}
		body := map[string]any{
			"consumer_group": map[string]any{"id": group["id"]},
			"consumer":       map[string]any{"id": c["id"]},
		}
		if _, err := s.write(s.reg.byName["consumer_group_consumers"], modeInsert, body, nil, nil); err != nil {
			return 0, nil, err
		}
		added = append(added, cloneObject(c))
	}
	return http.StatusCreated, map[string]any{"consumer_group": cloneObject(group), "consumers": added}, nil
}

// handleGroupRemoveMembers removes one member (4 segments) or all.
func (s *Server) handleGroupRemoveMembers(req *request) (int, any, *apiError) {
	group := s.lookupGroup(req.segs[1])
	if group == nil {
		return 0, nil, notFound()
	}
	gid := group["id"].(string)
	want := ""
	if len(req.segs) == 4 {
		c := s.db.lookup(s.reg.byName["consumers"], req.segs[3], "", "")
		if c == nil {
			return 0, nil, notFound()
		}
		want = c["id"].(string)
	}
	for _, m := range s.db.rowsWhere("consumer_group_consumers", "consumer_group", gid) {
		if want == "" || refID(m["consumer"]) == want {
			s.db.remove("consumer_group_consumers", m["id"].(string))
		}
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) handleConsumerGroupsOf(req *request) (int, any, *apiError) {
	c := s.db.lookup(s.reg.byName["consumers"], req.segs[1], "", "")
	if c == nil {
		return 0, nil, notFound()
	}
	var groups []map[string]any
	for _, m := range s.db.rowsWhere("consumer_group_consumers", "consumer", c["id"].(string)) {
		if g := s.db.get("consumer_groups", refID(m["consumer_group"])); g != nil {
			groups = append(groups, g)
		}
	}
	sort.Slice(groups, func(i, j int) bool { return rowID(groups[i]) < rowID(groups[j]) })
	return s.page(req, groups, rowID, cloneObject)
}
