package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

const exampleRepo = "../../examples/platform-repo"

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = Run(t.Context(), args, &o, &e)
	return o.String(), e.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// brokenRepo copies the example repo and breaks two rules in it.
func brokenRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(exampleRepo)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "tenants/checkout/tenant.cue")
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(src), `"checkout.orders": {`, `"payments.orders": {`, 1)
	s = strings.Replace(s, `"segment.ms":                86400000`, `"segment.ms": "1d"`, 1)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestValidateExample(t *testing.T) {
	out, errOut, code := run(t, "validate", "--repo", exampleRepo)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "valid (2 clusters, 1 Kafka clusters, 1 gateways, 4 tenants)") {
		t.Errorf("output: %q", out)
	}
}

func TestValidateInvalidText(t *testing.T) {
	out, _, code := run(t, "validate", "--repo", brokenRepo(t))
	if code != ExitError {
		t.Fatalf("exit %d, want 1", code)
	}
	want := `tenants/checkout/tenant.cue:25:3: kafka.topics."payments.orders": topic "payments.orders" is outside tenant checkout's prefix "checkout."
tenants/checkout/tenant.cue:36:5: kafka.topics."checkout.carts".configs."segment.ms": segment.ms: "1d" is not a long
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestValidateConfigReservesNamespaces: with --config, k3sync's own
// namespaces (state, the one it runs in) are reserved, as for plan, apply
// and serve; without it the same repo is valid.
func TestValidateConfigReservesNamespaces(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "k3sync.yaml")
	if err := os.WriteFile(cfg, []byte("state: {backend: kubernetes, namespace: payments-batch}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POD_NAMESPACE", "search")
	out, _, code := run(t, "validate", "--repo", exampleRepo, "--config", cfg)
	if code != ExitError {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	want := `tenants/payments/tenant.cue:23:3: kubernetes.namespaces."payments-batch": namespace "payments-batch" is reserved (k3sync's own namespace): no tenant may claim it
tenants/search/tenant.cue:10:3: kubernetes.namespaces.search: namespace "search" is reserved (k3sync's own namespace): no tenant may claim it
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, _, code := run(t, "validate", "--repo", exampleRepo); code != ExitOK {
		t.Errorf("without --config: exit %d, want 0", code)
	}
}

func TestValidateInvalidJSON(t *testing.T) {
	out, _, code := run(t, "validate", "--repo", brokenRepo(t), "--output", "json")
	if code != ExitError {
		t.Fatalf("exit %d, want 1", code)
	}
	var got struct {
		Valid  bool `json:"valid"`
		Errors []struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Column  int    `json:"column"`
			Path    string `json:"path"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.Valid || len(got.Errors) != 2 {
		t.Fatalf("got %+v", got)
	}
	e := got.Errors[1]
	if e.File != "tenants/checkout/tenant.cue" || e.Line != 36 || e.Column != 5 || e.Path != `kafka.topics."checkout.carts".configs."segment.ms"` {
		t.Errorf("second error: %+v", e)
	}
}

func TestValidateValidJSON(t *testing.T) {
	out, _, code := run(t, "validate", "--repo", exampleRepo, "--output", "json")
	if code != ExitOK || strings.TrimSpace(out) != "{\n  \"valid\": true,\n  \"errors\": []\n}" {
		t.Errorf("exit %d, output %q", code, out)
	}
}

func TestValidateMissingRepo(t *testing.T) {
	_, errOut, code := run(t, "validate", "--repo", filepath.Join(t.TempDir(), "nope"))
	if code != ExitError || !strings.Contains(errOut, "no such file or directory") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("K3SYNC_REPO", brokenRepo(t))
	t.Setenv("K3SYNC_OUTPUT", "json")
	out, _, code := run(t, "validate")
	if code != ExitError || !strings.Contains(out, `"valid": false`) {
		t.Errorf("K3SYNC_REPO/K3SYNC_OUTPUT ignored: exit %d, %q", code, out)
	}
	// The command line wins over the environment.
	out, _, code = run(t, "validate", "--repo", exampleRepo, "--output", "text")
	if code != ExitOK || !strings.Contains(out, "valid") {
		t.Errorf("flag did not win over environment: exit %d, %q", code, out)
	}
	t.Setenv("K3SYNC_OUTPUT", "xml")
	_, errOut, code := run(t, "validate", "--repo", exampleRepo)
	if code != ExitError || !strings.Contains(errOut, `K3SYNC_OUTPUT: invalid argument "xml"`) {
		t.Errorf("bad environment value: exit %d, %q", code, errOut)
	}
}

func TestRenderExampleGolden(t *testing.T) {
	out, errOut, code := run(t, "render", "--repo", exampleRepo)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "render-example.yaml", out)
}

func TestRenderTenantJSON(t *testing.T) {
	out, errOut, code := run(t, "render", "--repo", exampleRepo, "--tenant", "search", "--output", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "render-search.json", out)
	var got struct {
		Tenants []struct {
			Name string `json:"name"`
		} `json:"tenants"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Tenants) != 1 || got.Tenants[0].Name != "search" {
		t.Errorf("--tenant search rendered %+v (%v)", got, err)
	}
}

func TestRenderUnknownTenant(t *testing.T) {
	_, errOut, code := run(t, "render", "--repo", exampleRepo, "--tenant", "billing")
	if code != ExitError || !strings.Contains(errOut, `tenant "billing": not in the repo`) {
		t.Errorf("exit %d, %q", code, errOut)
	}
}

func TestSchemaIsOneCUEFile(t *testing.T) {
	out, _, code := run(t, "schema")
	if code != ExitOK || !strings.HasPrefix(out, "package k3sync\n\nimport \"list\"\nimport \"strings\"\n") {
		t.Fatalf("exit %d, starts %q", code, out[:min(len(out), 80)])
	}
	for _, def := range []string{"#Platform:", "#Tenant:", "#Topic:", "#KongService:", "#Namespace:"} {
		if !strings.Contains(out, def) {
			t.Errorf("schema lacks %s", def)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := run(t, "version")
	if code != ExitOK || !strings.HasPrefix(out, "k3sync ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	for _, cmd := range []string{"validate", "render", "schema", "version"} {
		out, _, code := run(t, cmd, "--help")
		if code != ExitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help: exit %d, %q", cmd, code, out)
		}
	}
}
