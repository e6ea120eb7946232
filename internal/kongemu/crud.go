package kongemu

import (
	"net/http"
	"strings"
	"time"
)

type writeMode int

const (
	modeInsert   writeMode = iota // POST, or PUT on a missing row
	modeReplace                   // PUT on an existing row
	modeUpdate                    // PATCH
	modeValidate                  // /schemas/.../validate: no store access
)

// write runs Kong's write path for one entity: shorthands, defaults,
// validation, transformations, constraints, storage. existing is the
// stored row for replace/update; forced holds values dictated by the URL
// (parent foreign key, id or endpoint key of a PUT).
func (s *Server) write(def *entityDef, mode writeMode, body, existing, forced map[string]any) (map[string]any, *apiError) {
	input := cloneObject(body)
	if input == nil {
		input = map[string]any{}
	}
	if hasFormValues(input) {
		input = s.inferForm(def, input, existing)
	}
	for k, v := range forced {
		input[k] = v
	}
	var extra map[string]any
	if def.split != nil {
		extra = def.split(input)
	}
	if def.shorthand != nil {
		if errs := def.shorthand(input); len(errs) > 0 {
			return nil, schemaViolation(errs)
		}
	}
	probe := input
	if mode == modeUpdate {
		probe = mergeValues(def.fields, input, existing)
	}
	fields, aerr := def.effectiveFields(probe)
	if aerr != nil {
		return nil, aerr
	}
	input = coerceRecord(fields, input)

	obj := input
	if mode == modeUpdate {
		obj = mergeValues(fields, input, existing)
		obj["id"] = existing["id"] // the URL names the row; ids never change
	}
	s.setAutoFields(fields, obj, mode, existing)
	obj = fillRecord(fields, obj)

	errs := validateRecord(fields, obj)
	if errs == nil && def.check != nil {
		if e := def.check(obj); len(e) > 0 {
			errs = e
		}
	}
	if errs != nil {
		return nil, schemaViolation(errs)
	}
	if def.finish != nil {
		if aerr := def.finish(s, obj, input); aerr != nil {
			return nil, aerr
		}
	}
	if mode == modeValidate {
		return obj, nil
	}
	selfID := ""
	if existing != nil {
		selfID, _ = existing["id"].(string)
	}
	if aerr := s.db.checkConstraints(def, obj, selfID); aerr != nil {
		return nil, aerr
	}
	commit := func() {}
	if def.prepareExtra != nil {
		c, aerr := def.prepareExtra(s, obj, extra)
		if aerr != nil {
			return nil, aerr
		}
		commit = c
	}
	s.db.put(def.name, obj)
	commit()
	return obj, nil
}

// setAutoFields fills auto fields like process_auto_fields: uuids and
// random strings on insert, created_at once, updated_at on every write.
func (s *Server) setAutoFields(fields []*field, obj map[string]any, mode writeMode, existing map[string]any) {
	now := s.now()
	for _, f := range fields {
		if !f.IsAuto() {
			continue
		}
		v, present := obj[f.Name()]
		switch {
		case f.IsUUID():
			if !present && mode != modeUpdate {
				obj[f.Name()] = newUUID()
			}
			if id, ok := v.(string); ok && isUUID(id) {
				obj[f.Name()] = strings.ToLower(id)
			}
		case f.IsTimestamp() && f.Name() == "created_at":
			if existing != nil && existing["created_at"] != nil {
				obj[f.Name()] = existing["created_at"]
			} else if !present || v == nil {
				obj[f.Name()] = timestamp(f, now)
			}
		case f.IsTimestamp() && f.Name() == "updated_at":
			obj[f.Name()] = timestamp(f, now)
		case f.Type() == "string":
			if !present && mode != modeUpdate {
				obj[f.Name()] = randomString()
			}
		}
	}
}

func timestamp(f *field, now time.Time) any {
	if f.Type() == "number" {
		return float64(now.UnixMilli()) / 1000
	}
	return now.Unix()
}

// scope is the entity collection or row addressed by a URL.
type scope struct {
	def    *entityDef
	parent map[string]any // parent row for nested URLs
	fk     *field         // child field referencing the parent
	key    string         // id or endpoint key ("" for collections)
}

func (sc *scope) scopeArgs() (string, string) {
	if sc.parent == nil {
		return "", ""
	}
	return sc.fk.Name(), sc.parent["id"].(string)
}

func (sc *scope) forced() map[string]any {
	if sc.parent == nil {
		return map[string]any{}
	}
	return map[string]any{sc.fk.Name(): map[string]any{"id": sc.parent["id"]}}
}

func (s *Server) resolve(req *request) (*scope, *apiError) {
	def := s.reg.byPath[req.segs[0]]
	if len(req.segs) <= 2 {
		sc := &scope{def: def}
		if len(req.segs) == 2 {
			sc.key = req.segs[1]
		}
		return sc, nil
	}
	parent := s.db.lookup(def, req.segs[1], "", "")
	if parent == nil {
		return nil, notFound()
	}
	child, fk := s.reg.nestedChild(def, req.segs[2])
	sc := &scope{def: child, parent: parent, fk: fk}
	if len(req.segs) == 4 {
		sc.key = req.segs[3]
	}
	return sc, nil
}

func (s *Server) findRow(sc *scope) map[string]any {
	f, id := sc.scopeArgs()
	return s.db.lookup(sc.def, sc.key, f, id)
}

func (s *Server) render(def *entityDef, row map[string]any) map[string]any {
	if def.output != nil {
		return def.output(s, row)
	}
	return cloneObject(row)
}

func (s *Server) handleCreate(req *request) (int, any, *apiError) {
	def := s.reg.byPath[req.segs[0]]
	obj, err := s.write(def, modeInsert, req.body, nil, nil)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, s.render(def, obj), nil
}

func (s *Server) handleNestedCreate(req *request) (int, any, *apiError) {
	sc, err := s.resolve(req)
	if err != nil {
		return 0, nil, err
	}
	obj, err := s.write(sc.def, modeInsert, req.body, nil, sc.forced())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, s.render(sc.def, obj), nil
}

func (s *Server) handleGet(req *request) (int, any, *apiError) {
	sc, err := s.resolve(req)
	if err != nil {
		return 0, nil, err
	}
	row := s.findRow(sc)
	if row == nil {
		return 0, nil, notFound()
	}
	if sc.def.name == "consumer_groups" {
		return http.StatusOK, s.groupObject(row, req.query.Get("list_consumers") != "false"), nil
	}
	return http.StatusOK, s.render(sc.def, row), nil
}

func (s *Server) handlePut(req *request) (int, any, *apiError) {
	sc, err := s.resolve(req)
	if err != nil {
		return 0, nil, err
	}
	def := sc.def
	forced := sc.forced()
	var existing map[string]any
	switch {
	case isUUID(sc.key):
		id := strings.ToLower(sc.key)
		existing = s.db.get(def.name, id)
		forced["id"] = id
	case def.endpointKey != "":
		existing = s.findRow(sc)
		forced[def.endpointKey] = sc.key
		if existing != nil {
			forced["id"] = existing["id"]
		}
	default:
		return 0, nil, notFound()
	}
	mode := modeReplace
	if existing == nil {
		// Kong's targets endpoint updates only: PUT on a missing target is 404.
		if def.name == "targets" {
			return 0, nil, notFound()
		}
		mode = modeInsert
	}
	obj, err := s.write(def, mode, req.body, existing, forced)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.render(def, obj), nil
}

func (s *Server) handlePatch(req *request) (int, any, *apiError) {
	sc, err := s.resolve(req)
	if err != nil {
		return 0, nil, err
	}
	existing := s.findRow(sc)
	if existing == nil {
		return 0, nil, notFound()
	}
	obj, err := s.write(sc.def, modeUpdate, req.body, existing, sc.forced())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.render(sc.def, obj), nil
}

func (s *Server) handleDelete(req *request) (int, any, *apiError) {
	sc, err := s.resolve(req)
	if err != nil {
		return 0, nil, err
	}
	row := s.findRow(sc)
	if row == nil {
		if sc.parent != nil {
			return 0, nil, notFound()
		}
		return http.StatusNoContent, nil, nil
	}
	if err := s.db.deleteCascade(sc.def, row["id"].(string)); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// handleForeignGet serves /{child}/{id}/{foreign field}, e.g.
// /routes/{id}/service.
func (s *Server) handleForeignGet(req *request) (int, any, *apiError) {
	def, ref, err := s.foreignTarget(req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.render(def, ref), nil
}

func (s *Server) handleForeignPatch(req *request) (int, any, *apiError) {
	def, ref, err := s.foreignTarget(req)
	if err != nil {
		return 0, nil, err
	}
	obj, err := s.write(def, modeUpdate, req.body, ref, nil)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.render(def, obj), nil
}

func (s *Server) foreignTarget(req *request) (*entityDef, map[string]any, *apiError) {
	def := s.reg.byPath[req.segs[0]]
	row := s.db.lookup(def, req.segs[1], "", "")
	if row == nil {
		return nil, nil, notFound()
	}
	f := lookupField(def.fields, req.segs[2])
	ref := s.db.get(f.Reference(), refID(row[f.Name()]))
	if ref == nil {
		return nil, nil, notFound()
	}
	return s.reg.byName[f.Reference()], ref, nil
}
