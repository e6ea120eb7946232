package kongemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/url"
	"strconv"
	"strings"
)

// Form bodies. Kong's Admin API takes application/x-www-form-urlencoded
// and multipart/form-data bodies besides JSON (kong/api/arguments.lua and
// arguments_decoder.lua), e.g. curl's -d and -F:
//
//   - Field names are paths: dots nest records ("config.minute=5",
//     "service.id=..."), "[]" appends to an array ("paths[]=/a"), "[n]"
//     sets its n-th element (1-based), "[key]" is a map key
//     ("headers[x-env][]=prod"). A name repeated ("paths=/a&paths=/b")
//     makes an array.
//   - Every value is a string whose type the entity's schema decides
//     (arguments.infer): "" is null; a number or integer field takes a
//     number, a boolean field "true" or "false"; a single value of an
//     array or set field is a one-element array; foreign keys are inferred
//     with the referenced entity's schema, plugin configs with the
//     plugin's. Anything else stays a string, so a value of the wrong type
//     or an unknown field gets the same 400 as in JSON.
//   - A multipart part whose Content-Type is application/json holds that
//     JSON value as is; any other part (a file too, as with curl -F
//     cert=@cert.pem) is a string.
//
// The form is decoded into the document a JSON body would be, its strings
// as formValue until write infers their types.

// formValue is a string of a form body, its type not yet inferred.
type formValue string

// maxFormFields bounds the fields of one form body (Kong: max_post_args).
const maxFormFields = 1000

// readForm decodes a form-encoded or multipart body.
func readForm(data []byte, mediaType string, params map[string]string) (map[string]any, *apiError) {
	var fields []formField
	var err error
	if mediaType == "multipart/form-data" {
		fields, err = multipartFields(data, params["boundary"])
	} else {
		fields, err = urlencodedFields(string(data))
	}
	if err != nil {
		return nil, badRequest("Cannot parse form body: " + err.Error())
	}
	if len(fields) > maxFormFields {
		return nil, badRequest("Cannot parse form body: more than " + strconv.Itoa(maxFormFields) + " fields")
	}
	body := map[string]any{}
	for _, f := range fields {
		setFormPath(body, formPath(f.name), f.value)
	}
	return compactForm(body).(map[string]any), nil
}

// formField is one name=value of a form, in the body's order.
type formField struct {
	name  string
	value any // formValue, or a decoded JSON value (multipart)
}

func urlencodedFields(s string) ([]formField, error) {
	var out []formField
	for part := range strings.SplitSeq(s, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err //nolint:wrapcheck // names the escape
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err //nolint:wrapcheck // names the escape
		}
		out = append(out, formField{name, formValue(value)})
	}
	return out, nil
}

func multipartFields(data []byte, boundary string) ([]formField, error) {
	if boundary == "" {
		return nil, errors.New("multipart body without a boundary")
	}
	r := multipart.NewReader(bytes.NewReader(data), boundary)
	var out []formField
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err //nolint:wrapcheck // says what is wrong
		}
		content, err := io.ReadAll(p)
		if err != nil {
			return nil, err //nolint:wrapcheck // says what is wrong
		}
		name := p.FormName()
		if name == "" {
			continue
		}
		var value any = formValue(content)
		if mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt == "application/json" {
			dec := json.NewDecoder(bytes.NewReader(content))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				return nil, errors.New("part " + strconv.Quote(name) + ": invalid JSON")
			}
			value = v
		}
		out = append(out, formField{name, value})
	}
}

// pathElem is one step of a field name: a record or map key, an append
// ("[]") or an element ("[n]", 1-based).
type pathElem struct {
	key   string
	index int // > 0: element index; 0 with list: append
	list  bool
}

// formPath splits "config.limits[2].name", "paths[]" or "headers[x-a][]"
// into steps. A name starting or ending with a dot, or without any
// delimiter, is one key.
func formPath(name string) []pathElem {
	if name == "" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return []pathElem{{key: name}}
	}
	var out []pathElem
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, pathElem{key: cur.String()})
			cur.Reset()
		}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.' && i > 0:
			flush()
		case c == '[' && i > 0:
			end := strings.IndexByte(name[i:], ']')
			if end < 0 {
				cur.WriteString(name[i:])
				i = len(name)
				continue
			}
			flush()
			in := name[i+1 : i+end]
			switch n, err := strconv.Atoi(in); {
			case in == "":
				out = append(out, pathElem{list: true})
			case err == nil && n > 0:
				out = append(out, pathElem{list: true, index: n})
			default:
				out = append(out, pathElem{key: in})
			}
			i += end
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	if len(out) == 0 || out[0].list {
		return []pathElem{{key: name}}
	}
	return out
}

// formList is an array being built: appended values and indexed ones.
type formList struct {
	items []any
}

// setFormPath stores v at path under m.
func setFormPath(m map[string]any, path []pathElem, v any) {
	key := path[0].key
	rest := path[1:]
	if len(rest) == 0 {
		switch old := m[key].(type) {
		case nil:
			m[key] = v
		case *formList:
			old.items = append(old.items, v)
		default:
			m[key] = &formList{items: []any{old, v}} // a repeated name
		}
		return
	}
	if rest[0].list {
		l, ok := m[key].(*formList)
		if !ok {
			l = &formList{}
			if old, present := m[key]; present {
				l.items = append(l.items, old)
			}
			m[key] = l
		}
		setListPath(l, rest, v)
		return
	}
	sub, ok := m[key].(map[string]any)
	if !ok {
		sub = map[string]any{}
		if old, present := m[key]; present {
			// A value and a record under one name: an array of both,
			// which no schema takes.
			m[key] = &formList{items: []any{old, sub}}
		} else {
			m[key] = sub
		}
	}
	setFormPath(sub, rest, v)
}

// setListPath stores v at path, whose first step is an append or index,
// in l.
func setListPath(l *formList, path []pathElem, v any) {
	step, rest := path[0], path[1:]
	pos := len(l.items) // append
	switch {
	case step.index > 0:
		pos = step.index - 1
	case len(rest) > 0 && len(l.items) > 0:
		pos = 0 // "a[].b": Kong nests into the first element
	}
	for len(l.items) <= pos {
		l.items = append(l.items, nil)
	}
	if len(rest) == 0 {
		if l.items[pos] == nil {
			l.items[pos] = v
		} else {
			l.items = append(l.items, v)
		}
		return
	}
	if rest[0].list {
		sub, ok := l.items[pos].(*formList)
		if !ok {
			sub = &formList{}
			if l.items[pos] != nil {
				sub.items = append(sub.items, l.items[pos])
			}
			l.items[pos] = sub
		}
		setListPath(sub, rest, v)
		return
	}
	m, ok := l.items[pos].(map[string]any)
	if !ok {
		m = map[string]any{}
		if l.items[pos] != nil {
			l.items = append(l.items, m)
		} else {
			l.items[pos] = m
		}
	}
	setFormPath(m, rest, v)
}

// compactForm turns formLists into []any, dropping holes.
func compactForm(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = compactForm(x)
		}
		return t
	case *formList:
		out := make([]any, 0, len(t.items))
		for _, x := range t.items {
			if x != nil {
				out = append(out, compactForm(x))
			}
		}
		return out
	}
	return v
}

// hasFormValues reports whether v holds a formValue.
func hasFormValues(v any) bool {
	switch t := v.(type) {
	case formValue:
		return true
	case map[string]any:
		for _, x := range t {
			if hasFormValues(x) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if hasFormValues(x) {
				return true
			}
		}
	}
	return false
}

// inferForm types the formValues of a body by def's schema, then by the
// effective schema the typed values select (a plugin's by its name, from
// the body or else the row updated); values no schema types stay strings.
func (s *Server) inferForm(def *entityDef, in, existing map[string]any) map[string]any {
	out := s.inferRecord(def.fields, in)
	if def.fieldsFor != nil {
		probe := maps.Clone(existing)
		if probe == nil {
			probe = map[string]any{}
		}
		maps.Copy(probe, out)
		if fs, err := def.fieldsFor(probe); err == nil {
			out = s.inferRecord(fs, out)
		}
	}
	return plainForm(out).(map[string]any)
}

// plainForm turns the formValues left into strings.
func plainForm(v any) any {
	switch t := v.(type) {
	case formValue:
		return string(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = plainForm(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = plainForm(x)
		}
		return out
	}
	return v
}

// shape is what inference needs of a field's schema.
type shape struct {
	typ      string
	fields   []*field                  // record, from the entity schema
	docs     map[string]map[string]any // record, from a served schema
	elements *shape
	values   *shape
	ref      string // foreign: the referenced entity
}

func fieldShape(f *field) *shape {
	sh := &shape{typ: f.Type(), ref: f.Reference(), fields: f.Fields()}
	if sh.typ == "array" || sh.typ == "set" || sh.typ == "map" {
		// Element and value schemas are only exported as the served
		// schema document.
		if list, ok := schemaDoc([]*field{f}, nil)["fields"].([]map[string]any); ok && len(list) == 1 {
			attrs, _ := list[0][f.Name()].(map[string]any)
			sh.elements = docShape(attrs["elements"])
			sh.values = docShape(attrs["values"])
		}
	}
	return sh
}

func docShape(v any) *shape {
	attrs, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	typ, _ := attrs["type"].(string)
	sh := &shape{typ: typ}
	sh.elements = docShape(attrs["elements"])
	sh.values = docShape(attrs["values"])
	if list, ok := attrs["fields"].([]map[string]any); ok {
		sh.docs = map[string]map[string]any{}
		for _, entry := range list {
			for name, a := range entry {
				sh.docs[name], _ = a.(map[string]any)
			}
		}
	}
	return sh
}

// subShape returns the shape of a record's (or foreign key's) field.
func (s *Server) subShape(sh *shape, name string) *shape {
	switch {
	case sh.typ == "foreign":
		if d := s.reg.byName[sh.ref]; d != nil {
			if f := lookupField(d.fields, name); f != nil {
				return fieldShape(f)
			}
		}
	case sh.docs != nil:
		return docShape(sh.docs[name])
	default:
		if f := lookupField(sh.fields, name); f != nil {
			return fieldShape(f)
		}
	}
	return nil
}

// inferRecord infers the values of in whose field fs names; others are
// left for a later pass or plainForm.
func (s *Server) inferRecord(fs []*field, in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		if f := lookupField(fs, k); f != nil {
			out[k] = s.infer(fieldShape(f), v)
		} else {
			out[k] = v
		}
	}
	return out
}

// infer is arguments.infer_value: v typed by sh.
func (s *Server) infer(sh *shape, v any) any {
	if sh == nil {
		return v
	}
	switch t := v.(type) {
	case formValue:
		str := string(t)
		if str == "" {
			return nil
		}
		switch sh.typ {
		case "number", "integer":
			if n, ok := formNumber(str); ok {
				return n
			}
			return str
		case "boolean":
			switch str {
			case "true":
				return true
			case "false":
				return false
			}
			return str
		case "array", "set":
			return []any{s.infer(sh.elements, t)}
		}
		return str
	case []any:
		if sh.typ != "array" && sh.typ != "set" {
			return v
		}
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = s.infer(sh.elements, x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			switch sh.typ {
			case "record", "foreign":
				out[k] = s.infer(s.subShape(sh, k), x)
			case "map":
				out[k] = s.infer(sh.values, x)
			default:
				out[k] = x
			}
		}
		return out
	}
	return v
}

// formNumber parses a number as Lua's tonumber does for decimal text,
// into the json.Number a JSON body would hold.
func formNumber(s string) (json.Number, bool) {
	s = strings.TrimSpace(s)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return json.Number(strconv.FormatInt(i, 10)), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "xXnN_") { // no hex, inf, nan or Go's underscores
		return "", false
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), true
}
