package kongemu

import (
	"crypto/rand"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// table stores the rows of one entity, ordered by primary key as Kong's
// Postgres strategy pages them.
type table struct {
	rows map[string]map[string]any
	ids  []string // sorted
	// index maps a unique field (or cacheKeyIndex) to the canonical value
	// of each row and its id, as Postgres' unique indexes do: writes check
	// constraints in constant time, not by scanning the table.
	index map[string]map[string]string
	// refs maps each foreign key field (every one, from the start) to the
	// ids of the rows that point at each parent id, sorted, as the indexes
	// Kong's migrations create on foreign keys (targets by upstream_id,
	// routes by service_id): listing a parent's children does not scan
	// the table.
	refs map[string]map[string][]string
}

// cacheKeyIndex is the index of an entity's composite cache key.
const cacheKeyIndex = "\x00cache_key"

// memDB is the in-memory database. It is not safe for concurrent use on
// its own: Server guards it with a RWMutex.
type memDB struct {
	reg    *registry
	tables map[string]*table
}

func newMemDB(reg *registry) *memDB {
	db := &memDB{reg: reg, tables: map[string]*table{}}
	for name, def := range reg.byName {
		t := &table{rows: map[string]map[string]any{}, index: map[string]map[string]string{}, refs: map[string]map[string][]string{}}
		for _, f := range def.foreignFields() {
			t.refs[f.Name()] = map[string][]string{}
		}
		db.tables[name] = t
	}
	return db
}

func (db *memDB) get(entity, id string) map[string]any {
	return db.tables[entity].rows[id]
}

// put inserts or replaces a row (by id).
func (db *memDB) put(entity string, obj map[string]any) {
	t := db.tables[entity]
	id := obj["id"].(string)
	if old, ok := t.rows[id]; ok {
		db.unindex(entity, old)
		db.unref(entity, old)
	} else {
		i := sort.SearchStrings(t.ids, id)
		t.ids = append(t.ids, "")
		copy(t.ids[i+1:], t.ids[i:])
		t.ids[i] = id
	}
	t.rows[id] = obj
	db.reindex(entity, obj, func(m map[string]string, k string) { m[k] = id })
	db.ref(entity, obj)
}

// ref adds a row to the foreign key indexes of its entity.
func (db *memDB) ref(entity string, row map[string]any) {
	id := row["id"].(string)
	for fk, m := range db.tables[entity].refs {
		parent := refID(row[fk])
		if parent == "" {
			continue
		}
		if i, found := slices.BinarySearch(m[parent], id); !found {
			m[parent] = slices.Insert(m[parent], i, id)
		}
	}
}

// unref removes a row from the foreign key indexes of its entity.
func (db *memDB) unref(entity string, row map[string]any) {
	t := db.tables[entity]
	id, _ := row["id"].(string)
	for fk, m := range t.refs {
		parent := refID(row[fk])
		ids := m[parent]
		if i, found := slices.BinarySearch(ids, id); found {
			if ids = slices.Delete(ids, i, i+1); len(ids) == 0 {
				delete(m, parent)
			} else {
				m[parent] = ids
			}
		}
	}
}

// indexKeys calls fn with each index of the entity and the row's key in it.
func (db *memDB) indexKeys(entity string, row map[string]any, fn func(index, key string)) {
	def := db.reg.byName[entity]
	if def == nil {
		return
	}
	for _, f := range def.uniqueFields() {
		if row[f] != nil {
			fn(f, canonical(row[f]))
		}
	}
	if len(def.cacheKey) > 0 {
		fn(cacheKeyIndex, cacheKeyOf(def.cacheKey, row))
	}
}

func (db *memDB) reindex(entity string, row map[string]any, set func(map[string]string, string)) {
	t := db.tables[entity]
	db.indexKeys(entity, row, func(index, key string) {
		m := t.index[index]
		if m == nil {
			m = map[string]string{}
			t.index[index] = m
		}
		set(m, key)
	})
}

func (db *memDB) unindex(entity string, row map[string]any) {
	id, _ := row["id"].(string)
	db.reindex(entity, row, func(m map[string]string, k string) {
		if m[k] == id {
			delete(m, k)
		}
	})
}

// byIndex returns the row whose key in index is key, or nil.
func (db *memDB) byIndex(entity, index, key string) map[string]any {
	t := db.tables[entity]
	if id, ok := t.index[index][key]; ok {
		return t.rows[id]
	}
	return nil
}

func (db *memDB) remove(entity, id string) {
	t := db.tables[entity]
	old, ok := t.rows[id]
	if !ok {
		return
	}
	db.unindex(entity, old)
	db.unref(entity, old)
	delete(t.rows, id)
	i := sort.SearchStrings(t.ids, id)
	if i < len(t.ids) && t.ids[i] == id {
		t.ids = append(t.ids[:i], t.ids[i+1:]...)
	}
}

// all returns the rows of an entity in primary-key order.
func (db *memDB) all(entity string) []map[string]any {
	t := db.tables[entity]
	out := make([]map[string]any, 0, len(t.ids))
	for _, id := range t.ids {
		out = append(out, t.rows[id])
	}
	return out
}

func (db *memDB) count(entity string) int {
	if t, ok := db.tables[entity]; ok {
		return len(t.rows)
	}
	return 0
}

// refID extracts the id of a foreign-key value ({"id": "..."}).
func refID(v any) string {
	if m, ok := v.(map[string]any); ok {
		if id, ok := m["id"].(string); ok {
			return id
		}
	}
	return ""
}

// rowsWhere returns the rows of an entity whose foreign key fk points at
// id, in primary-key order.
func (db *memDB) rowsWhere(entity, fk, id string) []map[string]any {
	var out []map[string]any
	t := db.tables[entity]
	if m, ok := t.refs[fk]; ok {
		for _, rid := range m[id] {
			out = append(out, t.rows[rid])
		}
		return out
	}
	for _, row := range db.all(entity) {
		if refID(row[fk]) == id {
			out = append(out, row)
		}
	}
	return out
}

func (db *memDB) findUnique(entity, fieldName string, value any) map[string]any {
	if def := db.reg.byName[entity]; def != nil && slices.Contains(def.uniqueFields(), fieldName) {
		return db.byIndex(entity, fieldName, canonical(value))
	}
	want := canonical(value)
	for _, row := range db.all(entity) {
		if row[fieldName] != nil && canonical(row[fieldName]) == want {
			return row
		}
	}
	return nil
}

// lookup resolves an "id or endpoint key" URL segment. scopeField/scopeID
// restrict the search to children of one parent (nested URLs).
func (db *memDB) lookup(def *entityDef, key, scopeField, scopeID string) map[string]any {
	inScope := func(row map[string]any) bool {
		return scopeField == "" || refID(row[scopeField]) == scopeID
	}
	if isUUID(key) {
		if row := db.get(def.name, strings.ToLower(key)); row != nil && inScope(row) {
			return row
		}
	}
	if def.endpointKey == "" || (def.scopedKey && scopeField == "") {
		return nil
	}
	probe := key
	if def.name == "targets" {
		if n, msg := normalizeTarget(key); msg == "" {
			probe = n
		}
	}
	for _, row := range db.all(def.name) {
		if v, ok := row[def.endpointKey].(string); ok && (v == key || v == probe) && inScope(row) {
			return row
		}
	}
	return nil
}

// canonical renders a value for uniqueness comparisons and messages.
func canonical(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", t)
	case map[string]any:
		if id, ok := t["id"]; ok && len(t) == 1 {
			return fmt.Sprintf("{id=%q}", id)
		}
	}
	return fmt.Sprint(v)
}

// luaTable formats key/value pairs the way Kong prints unique keys in
// error messages: {name="x"} or {consumer={id="..."},group="x"}.
func luaTable(keys []string, obj map[string]any) string {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	parts := make([]string, len(sorted))
	for i, k := range sorted {
		parts[i] = k + "=" + canonical(obj[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// checkConstraints enforces primary key, unique fields, cache keys and
// foreign-key existence for an object about to be stored. selfID is the
// id of the row being replaced ("" for inserts).
func (db *memDB) checkConstraints(def *entityDef, obj map[string]any, selfID string) *apiError {
	id, _ := obj["id"].(string)
	if selfID == "" && db.get(def.name, id) != nil {
		return &apiError{status: 400, body: map[string]any{
			"code": 3, "name": "primary key violation",
			"message": fmt.Sprintf("primary key violation on key '{id=%q}'", id),
			"fields":  map[string]any{"id": id},
		}}
	}
	for _, f := range def.uniqueFields() {
		v := obj[f]
		if v == nil {
			continue
		}
		if row := db.findUnique(def.name, f, v); row != nil && row["id"] != id {
			return uniqueViolation([]string{f}, obj)
		}
	}
	if len(def.cacheKey) > 0 {
		if row := db.byIndex(def.name, cacheKeyIndex, cacheKeyOf(def.cacheKey, obj)); row != nil && row["id"] != id {
			return uniqueViolation(def.cacheKey, obj)
		}
	}
	for _, f := range def.foreignFields() {
		ref := refID(obj[f.Name()])
		if ref == "" {
			continue
		}
		if db.get(f.Reference(), ref) == nil {
			return &apiError{status: 400, body: map[string]any{
				"code": 4, "name": "foreign key violation",
				"message": fmt.Sprintf("the foreign key '{id=%q}' does not reference an existing '%s' entity.", ref, f.Reference()),
				"fields":  map[string]any{f.Name(): map[string]any{"id": ref}},
			}}
		}
	}
	return nil
}

func cacheKeyOf(keys []string, obj map[string]any) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = canonical(obj[k])
	}
	return strings.Join(parts, "\x1f")
}

func uniqueViolation(keys []string, obj map[string]any) *apiError {
	fields := map[string]any{}
	for _, k := range keys {
		fields[k] = obj[k]
	}
	return &apiError{status: 409, body: map[string]any{
		"code": 5, "name": "unique constraint violation",
		"message": fmt.Sprintf("UNIQUE violation detected on '%s'", luaTable(keys, obj)),
		"fields":  fields,
	}}
}

// deletePlan collects the rows a DELETE removes: the row itself plus
// every on_delete=cascade child, recursively. A restricting child aborts
// with Kong's foreign key violation error.
func (db *memDB) deletePlan(def *entityDef, id string, plan map[string][]string) *apiError {
	plan[def.name] = append(plan[def.name], id)
	for _, c := range db.reg.children(def.name) {
		for _, row := range db.rowsWhere(c.def.name, c.fk.Name(), id) {
			if c.fk.OnDeleteAction() != "cascade" {
				return &apiError{status: 400, body: map[string]any{
					"code": 4, "name": "foreign key violation",
					"message": fmt.Sprintf("an existing '%s' entity references this '%s' entity", c.def.name, def.name),
					"fields":  map[string]any{"@referenced_by": c.def.name},
				}}
			}
			if err := db.deletePlan(c.def, row["id"].(string), plan); err != nil {
				return err
			}
		}
	}
	return nil
}

func (db *memDB) deleteCascade(def *entityDef, id string) *apiError {
	plan := map[string][]string{}
	if err := db.deletePlan(def, id, plan); err != nil {
		return err
	}
	for entity, ids := range plan {
		for _, rid := range ids {
			db.remove(entity, rid)
		}
	}
	return nil
}

func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Errorf("kongemu: crypto/rand: %w", err))
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomString mirrors kong.tools.rand.random_string: 32 hex characters.
func randomString() string {
	return strings.ReplaceAll(newUUID(), "-", "")
}
