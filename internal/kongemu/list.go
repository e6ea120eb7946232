package kongemu

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

const (
	defaultPageSize = 100
	maxPageSize     = 1000
	maxQueryTags    = 5
)

// tagFilter is the ?tags= query: "a,b" matches entities carrying all the
// tags, "a/b" entities carrying any of them.
type tagFilter struct {
	tags []string
	all  bool
}

func parseTagFilter(raw string) (*tagFilter, *apiError) {
	if raw == "" {
		return nil, nil
	}
	and := strings.Contains(raw, ",")
	or := strings.Contains(raw, "/")
	if and && or {
		return nil, invalidOption("tags", "invalid filter: mixing ',' (and) with '/' (or) is not supported")
	}
	sep := ","
	if or {
		sep = "/"
	}
	tags := strings.Split(raw, sep)
	if len(tags) > maxQueryTags {
		return nil, invalidOption("tags", "cannot query more than 5 tags")
	}
	for _, t := range tags {
		if t == "" {
			return nil, invalidOption("tags", "invalid filter: empty tag")
		}
	}
	return &tagFilter{tags: tags, all: !or}, nil
}

func (f *tagFilter) match(row map[string]any) bool {
	if f == nil {
		return true
	}
	list, _ := row["tags"].([]any)
	has := func(t string) bool {
		return slices.ContainsFunc(list, func(x any) bool { return x == t })
	}
	for _, t := range f.tags {
		if has(t) && !f.all {
			return true
		}
		if !has(t) && f.all {
			return false
		}
	}
	return f.all
}

func encodeOffset(key string) string {
	b, _ := json.Marshal([]string{key}) // a []string always marshals
	return base64.RawStdEncoding.EncodeToString(b)
}

func decodeOffset(raw string) (string, *apiError) {
	trimmed := strings.TrimRight(raw, "=")
	b, err := base64.RawStdEncoding.DecodeString(trimmed)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(trimmed); err != nil {
			return "", invalidOffset(raw)
		}
	}
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil || len(keys) != 1 {
		return "", invalidOffset(raw)
	}
	return keys[0], nil
}

// page applies tags, size and offset to rows already sorted by key, and
// renders Kong's {"data": [...], "next": ..., "offset": ...} envelope.
func (s *Server) page(req *request, rows []map[string]any, key func(map[string]any) string,
	render func(map[string]any) map[string]any,
) (int, any, *apiError) {
	size := defaultPageSize
	if raw := req.query.Get("size"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxPageSize {
			return 0, nil, invalidSize()
		}
		size = n
	}
	filter, aerr := parseTagFilter(req.query.Get("tags"))
	if aerr != nil {
		return 0, nil, aerr
	}
	after := ""
	if raw := req.query.Get("offset"); raw != "" {
		k, aerr := decodeOffset(raw)
		if aerr != nil {
			return 0, nil, aerr
		}
		after = k
	}
	data := make([]any, 0, min(size, len(rows)))
	more := false
	last := ""
	for _, row := range rows {
		k := key(row)
		if after != "" && k <= after {
			continue
		}
		if !filter.match(row) {
			continue
		}
		if len(data) == size {
			more = true
			break
		}
		data = append(data, render(row))
		last = k
	}
	resp := map[string]any{"data": data, "next": nil}
	if more {
		off := encodeOffset(last)
		q := url.Values{"offset": {off}}
		if raw := req.query.Get("size"); raw != "" {
			q.Set("size", raw)
		}
		if raw := req.query.Get("tags"); raw != "" {
			q.Set("tags", raw)
		}
		resp["offset"] = off
		resp["next"] = req.path + "?" + q.Encode()
	}
	return http.StatusOK, resp, nil
}

func rowID(row map[string]any) string { id, _ := row["id"].(string); return id }

func (s *Server) handleList(req *request) (int, any, *apiError) {
	def := s.reg.byPath[req.segs[0]]
	render := func(row map[string]any) map[string]any { return s.render(def, row) }
	rows := s.db.all(def.name)
	// GET /consumers?custom_id=x is the documented lookup by custom_id.
	if cid := req.query.Get("custom_id"); def.name == "consumers" && cid != "" {
		var match []map[string]any
		for _, r := range rows {
			if r["custom_id"] == cid {
				match = append(match, r)
			}
		}
		rows = match
	}
	return s.page(req, rows, rowID, render)
}

func (s *Server) handleNestedList(req *request) (int, any, *apiError) {
	sc, err := s.resolve(req)
	if err != nil {
		return 0, nil, err
	}
	rows := s.db.rowsWhere(sc.def.name, sc.fk.Name(), sc.parent["id"].(string))
	render := func(row map[string]any) map[string]any { return s.render(sc.def, row) }
	return s.page(req, rows, rowID, render)
}

// handleTags serves /tags and /tags/{tag}: one row per (entity, tag).
func (s *Server) handleTags(req *request) (int, any, *apiError) {
	var rows []map[string]any
	for _, name := range s.reg.order {
		def := s.reg.byName[name]
		if def.internal {
			continue
		}
		for _, row := range s.db.all(name) {
			tags, _ := row["tags"].([]any)
			for _, t := range tags {
				tag, _ := t.(string)
				if len(req.segs) == 2 && tag != req.segs[1] {
					continue
				}
				rows = append(rows, map[string]any{
					"entity_name": name, "entity_id": row["id"], "tag": tag,
				})
			}
		}
	}
	key := func(r map[string]any) string {
		return r["tag"].(string) + "\x00" + r["entity_name"].(string) + "\x00" + r["entity_id"].(string)
	}
	sort.Slice(rows, func(i, j int) bool { return key(rows[i]) < key(rows[j]) })
	// tags rows carry no "tags" field; the filter does not apply here.
	q := req.query
	if q.Get("tags") != "" {
		q = url.Values{"size": q["size"], "offset": q["offset"]}
	}
	r2 := *req
	r2.query = q
	return s.page(&r2, rows, key, func(r map[string]any) map[string]any { return r })
}
