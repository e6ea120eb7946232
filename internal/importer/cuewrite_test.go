package importer

import (
	"strings"
	"testing"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
)

// hostileNames are names and values a live system may hold (Kafka and
// Kong refuse most of them as names, but not every version, and values
// such as annotations and plugin configs take anything).
var hostileNames = []string{
	`evil"name`,
	`back\slash`,
	"new\nline",
	"new\nline\npolicies: adopt: false",
	"*/ close",
	"/* open",
	`\(interpolation)`,
	`"""`,
	"#hash",
	"cr\rret",
	"nul\x00byte",
	"esc\x1b[31m",
	"line\u2028sep",
	"bidi\u202eoverride",
	"bad\xffutf8",
	"tab\tend",
	"}\n}\nkafka: {}",
	"if",
	"_hidden",
	"",
}

// TestHostileNamesStayInLiterals writes every hostile name as a label, a
// value and a comment, and parses the result: each label and value is
// exactly the name (invalid UTF-8 replaced), and the only fields are
// the ones written.
func TestHostileNamesStayInLiterals(t *testing.T) {
	root := &obj{}
	topics := root.sub("topics")
	im := &importer{counts: map[string]int{}}
	for _, n := range hostileNames {
		im.skip(topics, "topic %s is outside the prefix", q(n))
		topics.set(quote(n), lit(quote(n)))
		topics.set(label(n+"x"), &obj{fields: []*field{{label: "name", value: lit(quote(n))}}})
	}
	file, err := renderFile([]string{"header " + q(hostileNames[3])}, root)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	f, err := parser.ParseFile("t.cue", file, parser.ParseComments)
	if err != nil {
		t.Fatalf("the file is not CUE: %v\n%s", err, file)
	}
	if len(f.Decls) != 2 { // package clause and topics
		t.Fatalf("%d declarations, want the package and topics:\n%s", len(f.Decls), file)
	}
	st := f.Decls[1].(*ast.Field).Value.(*ast.StructLit)
	var fields []*ast.Field
	for _, e := range st.Elts {
		if fd, ok := e.(*ast.Field); ok {
			fields = append(fields, fd)
		}
	}
	if len(fields) != 2*len(hostileNames) {
		t.Fatalf("%d fields in topics, want %d:\n%s", len(fields), 2*len(hostileNames), file)
	}
	for i, n := range hostileNames {
		want := strings.ToValidUTF8(n, "\uFFFD")
		fd := fields[2*i]
		name, _, err := ast.LabelName(fd.Label)
		if err != nil || name != want {
			t.Errorf("label %q (%v), want %q", name, err, want)
		}
		v, err := literal.Unquote(fd.Value.(*ast.BasicLit).Value)
		if err != nil || v != want {
			t.Errorf("value %q (%v), want %q", v, err, want)
		}
		name, _, err = ast.LabelName(fields[2*i+1].Label)
		if err != nil || name != want+"x" {
			t.Errorf("label %q (%v), want %q", name, err, want+"x")
		}
	}
	// Every comment is one line: the report's text, quoted names inside.
	for _, cg := range ast.Comments(st) {
		for _, c := range cg.List {
			if strings.ContainsAny(c.Text, "\n\r\u2028") {
				t.Errorf("comment spans lines: %q", c.Text)
			}
		}
	}
	if got := strings.Count(string(file), "// not importable: "); got != len(hostileNames) {
		t.Errorf("%d not importable comments, want %d", got, len(hostileNames))
	}
	if len(im.notes) != len(hostileNames) {
		t.Errorf("%d report lines, want %d", len(im.notes), len(hostileNames))
	}
}

func TestLabel(t *testing.T) {
	for in, want := range map[string]string{
		"payments": "payments", "cpu": "cpu", "if": `"if"`, "payments-api": `"payments-api"`,
		"_x": `"_x"`, "#X": `"#X"`, "a.b": `"a.b"`, "true": `"true"`,
	} {
		if got := label(in); got != want {
			t.Errorf("label(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestDefaultPlatform: without a repo, the schema's default policy.
func TestDefaultPlatform(t *testing.T) {
	p, err := DefaultPlatform("main", "edge")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Policy.Guardrails.Kubernetes.AllowedClusterRoles, ","); got != "view,edit,admin" {
		t.Errorf("allowed cluster roles %s", got)
	}
	if len(p.Kafka["main"].Limits.AllowedConfigKeys) == 0 || len(p.Policy.Guardrails.Kong.AllowedPlugins) == 0 {
		t.Errorf("no default config keys or plugins: %+v", p)
	}
	if _, ok := p.Gateways["edge"]; !ok {
		t.Errorf("no gateway edge")
	}
}
