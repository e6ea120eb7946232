package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/k3sync/k3sync/internal/untrusted"
)

// rawControl is what must never reach a terminal from tenant input.
const rawControl = "\x1b\r\x07\u202e\u2066\u2028\u200b\u009b"

// TestValidateTextEscapesTenantInput: a file name with a terminal escape
// and a bidi override comes out escaped, one error per line (the topic
// name beside it stops at the schema error first).
func TestValidateTextEscapesTenantInput(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(exampleRepo)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "tenants/checkout/tenant.cue")
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(src), `"checkout.orders": {`, `"x\u001b[2J\r\u202egnp.exe": {`, 1)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file name is tenant input too, printed as it is by CUE's errors.
	evil := filepath.Join(dir, "tenants/checkout/evil\x1b[2J\u202e.cue")
	if err := os.WriteFile(evil, []byte("package k3sync\n\nowners: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "validate", "--repo", dir)
	if code != ExitError {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	if strings.ContainsAny(out+errOut, rawControl) {
		t.Errorf("raw control characters on the terminal:\n%q", out+errOut)
	}
	for _, want := range []string{`tenants/checkout/evil\x1b[2J\u202e.cue:3:9: owners: `} {
		if !strings.Contains(out, want) {
			t.Errorf("%s is not shown escaped:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(line, "tenants/checkout/") {
			t.Errorf("line %q is not one FILE:LINE:COL: PATH: message error", line)
		}
	}
}

// hostileDoc is rendered output whose strings (a label value, a key)
// carry control and format characters.
var hostileDoc = map[string]any{
	"name":   "payments",
	"labels": map[string]any{"owner\u202e": "team\x1b[2J\r\n@org\u2028", "plain": "value"},
	"notes":  []any{"zero\u200bwidth\u2066", "tag\U000e0041 c1\u009b"},
}

// TestRenderOutputEscapesTenantInput: YAML and JSON keep every string as
// it is (they parse back to the same document) and send none of its
// control or format characters raw.
func TestRenderOutputEscapesTenantInput(t *testing.T) {
	y, err := marshalYAML(hostileDoc)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := yaml.Unmarshal(y, &back); err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if diff := cmp.Diff(hostileDoc, back); diff != "" {
		t.Errorf("YAML does not read back the same (-want +got):\n%s\n%s", diff, y)
	}
	if strings.ContainsAny(string(y), rawControl) {
		t.Errorf("raw control characters in YAML:\n%q", y)
	}
	j, err := json.Marshal(hostileDoc)
	if err != nil {
		t.Fatal(err)
	}
	js := untrusted.QuotedEscapes(string(j), false) // as render --output json
	back = nil
	if err := json.Unmarshal([]byte(js), &back); err != nil || strings.ContainsAny(js, rawControl) {
		t.Errorf("JSON %q: %v", js, err)
	}
	if diff := cmp.Diff(hostileDoc, back); diff != "" {
		t.Errorf("JSON does not read back the same (-want +got):\n%s", diff)
	}
	if plain, _ := marshalYAML(map[string]any{"name": "payments", "value": "a b"}); string(plain) != "name: payments\nvalue: a b\n" {
		t.Errorf("plain strings are quoted now:\n%s", plain)
	}
}

// TestLogsKeepTenantStringsInTheirAttribute: in both log formats a tenant
// name stays in its attribute, on the record's one line, escaped.
func TestLogsKeepTenantStringsInTheirAttribute(t *testing.T) {
	name := "evil\n" + `time=2026-01-01T00:00:00Z level=ERROR msg="forged"` + "\x1b[2J\u202e"
	for _, format := range []string{"text", "json"} {
		var b bytes.Buffer
		log, err := newLoggerTo(&b, format, "info")
		if err != nil {
			t.Fatal(err)
		}
		log.Info("tenant synced", "tenant", name, "error", errorString("apply "+name))
		out := b.String()
		if strings.Count(out, "\n") != 1 || strings.ContainsAny(out, rawControl) {
			t.Errorf("%s: not one clean line: %q", format, out)
		}
		if format == "json" {
			var rec map[string]any
			if err := json.Unmarshal(b.Bytes(), &rec); err != nil {
				t.Fatalf("json: %v: %s", err, out)
			}
			want := `evil\ntime=2026-01-01T00:00:00Z level=ERROR msg="forged"\x1b[2J\u202e`
			if rec["tenant"] != want || rec["error"] != "apply "+want || rec["msg"] != "tenant synced" {
				t.Errorf("json: %v", rec)
			}
		} else if !strings.Contains(out, `tenant="evil\\ntime=2026-01-01T00:00:00Z level=ERROR msg=\"forged\"\\x1b[2J\\u202e"`) {
			t.Errorf("text: the name is not one quoted attribute value: %s", out)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
