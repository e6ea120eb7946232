package importer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/literal"
)

// quote is s as a CUE string literal: quotes and backslashes escaped,
// control, format and other non-printable characters (newline, ESC,
// U+2028, bidi overrides) written as escapes, invalid UTF-8 replaced. The
// result never spans lines, so it is safe inside a // comment too.
func quote(s string) string {
	return literal.String.Quote(strings.ToValidUTF8(s, "\uFFFD"))
}

var identifier = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]*$`)

// keywords are identifiers that may not be used bare as a label, or that
// read ambiguously.
var keywords = map[string]bool{
	"true": true, "false": true, "null": true, "for": true, "in": true, "if": true, "let": true,
	"import": true, "package": true, "func": true, "div": true, "mod": true, "quo": true, "rem": true,
}

// label is s as a CUE field label: bare when it is a plain identifier,
// quoted otherwise.
func label(s string) string {
	if identifier.MatchString(s) && !keywords[s] {
		return s
	}
	return quote(s)
}

// obj is a CUE struct being written, its fields in order.
type obj struct {
	fields []*field
}

// field is a labelled value, or a comment alone when label is "".
type field struct {
	comments []string
	label    string
	// value is *obj, lit (a CUE literal), or list.
	value any
}

// lit is CUE text written as is: a literal built by quote, num or the like.
type lit string

// list is a list whose elements are CUE text; multiline puts each on its
// own line.
type list struct {
	elems     []string
	multiline bool
}

func (o *obj) set(label string, v any, comments ...string) *field {
	f := &field{label: label, value: v, comments: comments}
	o.fields = append(o.fields, f)
	return f
}

// comment adds comment lines; text must come from commentf (or contain
// no live value).
func (o *obj) comment(lines ...string) {
	o.fields = append(o.fields, &field{comments: lines})
}

// sub returns the struct at label, creating it.
func (o *obj) sub(l string) *obj {
	for _, f := range o.fields {
		if f.label == l {
			if s, ok := f.value.(*obj); ok {
				return s
			}
		}
	}
	s := &obj{}
	o.set(l, s)
	return s
}

func (o *obj) empty() bool { return len(o.fields) == 0 }

func (o *obj) write(b *strings.Builder, depth int) {
	ind := strings.Repeat("\t", depth)
	for _, f := range o.fields {
		for _, c := range f.comments {
			b.WriteString(ind)
			b.WriteString("// ")
			b.WriteString(oneLine(c))
			b.WriteString("\n")
		}
		if f.label == "" {
			continue
		}
		b.WriteString(ind)
		b.WriteString(f.label)
		b.WriteString(": ")
		writeValue(b, f.value, depth)
		b.WriteString("\n")
	}
}

func writeValue(b *strings.Builder, v any, depth int) {
	switch v := v.(type) {
	case *obj:
		if v.empty() {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		v.write(b, depth+1)
		b.WriteString(strings.Repeat("\t", depth))
		b.WriteString("}")
	case lit:
		b.WriteString(string(v))
	case *list:
		writeValue(b, *v, depth)
	case list:
		if !v.multiline || len(v.elems) == 0 {
			b.WriteString("[" + strings.Join(v.elems, ", ") + "]")
			return
		}
		b.WriteString("[\n")
		for _, e := range v.elems {
			if strings.HasPrefix(e, "//") { // a comment from Fit
				b.WriteString(strings.Repeat("\t", depth+1) + e + "\n")
				continue
			}
			b.WriteString(strings.Repeat("\t", depth+1) + e + ",\n")
		}
		b.WriteString(strings.Repeat("\t", depth) + "]")
	default:
		panic(fmt.Sprintf("importer: cannot write %T", v))
	}
}

// oneLine guards comments: the text of a comment is built from quoted
// live values, but a line break would still end it.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\r', '\v', '\f', '\u0085', '\u2028', '\u2029':
			return ' '
		}
		return r
	}, s)
}

// inline writes a struct on one line: {k: v, k: v}.
func inline(pairs ...string) string {
	var parts []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			continue
		}
		parts = append(parts, label(pairs[i])+": "+pairs[i+1])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}

func strList(ss []string) list { return list{elems: quoteAll(ss)} }

func num[N int | int32 | int16 | int64](n N) lit { return lit(strconv.FormatInt(int64(n), 10)) }

// float is a number as CUE writes it: an integer when it is one.
func float(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// jsonValue writes a JSON value (a Kong plugin config) as CUE: objects
// as structs with every key quoted as needed, nulls left out.
func jsonValue(v any, depth int) (any, bool) {
	switch v := v.(type) {
	case nil:
		return nil, false
	case map[string]any:
		o := &obj{}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if cv, ok := jsonValue(v[k], depth+1); ok {
				o.set(label(k), cv)
			}
		}
		return o, true
	case []any:
		l := list{}
		for _, e := range v {
			cv, ok := jsonValue(e, depth+1)
			if !ok {
				continue
			}
			var b strings.Builder
			writeValue(&b, cv, depth+1)
			l.elems = append(l.elems, b.String())
			if _, isObj := cv.(*obj); isObj {
				l.multiline = true
			}
		}
		return l, true
	case string:
		return lit(quote(v)), true
	case bool:
		return lit(strconv.FormatBool(v)), true
	case json.Number:
		return lit(v.String()), true
	case float64:
		return lit(float(v)), true
	case int:
		return lit(strconv.Itoa(v)), true
	case int64:
		return lit(strconv.FormatInt(v, 10)), true
	}
	return lit(quote(fmt.Sprint(v))), true
}

// renderFile writes the file: a header comment, the package clause and the
// tenant's fields, formatted as cue fmt does. Formatting parses the text
// first, so a file that is not CUE is an error, never written.
func renderFile(header []string, root *obj) ([]byte, error) {
	var b strings.Builder
	for _, h := range header {
		b.WriteString("// " + oneLine(h) + "\n")
	}
	b.WriteString("package k3sync\n\n")
	root.write(&b, 0)
	out, err := format.Source([]byte(b.String()), format.Simplify())
	if err != nil {
		return nil, fmt.Errorf("format the generated CUE: %w", err)
	}
	return out, nil
}
