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

	"github.com/k3sync/k3sync/internal/plan"
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
	// JSON as every --output json writes it: render, validate, plan,
	// apply, sync and the error document.
	var j bytes.Buffer
	if err := writeJSON(&j, hostileDoc); err != nil {
		t.Fatal(err)
	}
	js := j.String()
	back = nil
	if err := json.Unmarshal([]byte(js), &back); err != nil || strings.ContainsAny(js, rawControl) {
		t.Errorf("JSON %q: %v", js, err)
	}
	if diff := cmp.Diff(hostileDoc, back); diff != "" {
		t.Errorf("JSON does not read back the same (-want +got):\n%s", diff)
	}
	if !strings.Contains(js, `"owner\u202e": "team\u001b[2J\r\n@org\u2028"`) || !strings.Contains(js, `"tag\udb40\udc41 c1\u009b"`) {
		t.Errorf("JSON does not escape as \\u:\n%s", js)
	}
	if plain, _ := marshalYAML(map[string]any{"name": "payments", "value": "a b"}); string(plain) != "name: payments\nvalue: a b\n" {
		t.Errorf("plain strings are quoted now:\n%s", plain)
	}
}

// TestValidateJSONEscapesTenantInput: validate --output json names a file
// with a bidi override and a C1 control (CSI) in it escaped, and the
// document still decodes to the name as it is.
func TestValidateJSONEscapesTenantInput(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(exampleRepo)); err != nil {
		t.Fatal(err)
	}
	const name = "tenants/checkout/evil\u202egnp\u009b2J\u200b.cue"
	if err := os.WriteFile(filepath.Join(dir, name), []byte("package k3sync\n\nowners: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "validate", "--repo", dir, "--output", "json")
	if code != ExitError {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	if strings.ContainsAny(out+errOut, rawControl) {
		t.Errorf("raw control characters on the terminal:\n%q", out+errOut)
	}
	var got validateOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.Valid || len(got.Errors) != 1 || got.Errors[0].File != name {
		t.Errorf("errors %+v, want one in %q", got.Errors, name)
	}
	if !strings.Contains(out, `"file": "tenants/checkout/evil\u202egnp\u009b2J\u200b.cue"`) {
		t.Errorf("the file name is not escaped:\n%s", out)
	}
}

// TestPlanJSONEscapesTenantInput: plan --output json writes a tenant's
// names and values with their control and format characters escaped, and
// decodes to the same plan.
func TestPlanJSONEscapesTenantInput(t *testing.T) {
	clearPlanEnv(t)
	const tenant = "evil\u202egnp\u009b2J"
	want := &plan.Plan{Revision: "abc123def4567890", Changes: []plan.Change{
		{Key: plan.Key{Tenant: tenant, System: plan.Kong, Target: "edge", Kind: "Route", Name: "r\u2066\u200b\x1b[2J"},
			Action: plan.Update, Notes: []string{"note\u2028\U000e0041"},
			Fields: []plan.FieldChange{{Path: "paths[0]", Before: "/a\u202e", After: "/b\u009b"}}},
	}}
	b := &planServerBackend{syncBackend: &syncBackend{}, order: []string{tenant}, plans: map[string]*plan.Plan{tenant: want}}
	url, viewer := planServer(t, b)
	out, errOut, code := run(t, "plan", "--server", url, "--token-file", viewer, "--output", "json")
	if code != ExitChanges {
		t.Fatalf("exit %d, want 2\n%s%s", code, out, errOut)
	}
	if strings.ContainsAny(out+errOut, rawControl) {
		t.Errorf("raw control characters on the terminal:\n%q", out+errOut)
	}
	var got plan.Plan
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if diff := cmp.Diff(want, &got); diff != "" {
		t.Errorf("the plan does not read back the same (-want +got):\n%s", diff)
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
