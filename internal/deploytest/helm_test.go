package deploytest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// chart is a Helm chart rendered the way Helm's engine does
// (helm.sh/helm/v3/pkg/engine): every template file parsed into one set
// named by its path, files starting with "_" only defined, missing map keys
// rendered empty.
type chart struct {
	name, version, appVersion string
	values                    map[string]any
	files                     map[string]string // path under the chart's parent → source
}

func loadChart(t *testing.T, dir string) *chart {
	t.Helper()
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Name       string `json:"name"`
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	readYAML(t, filepath.Join(dir, "Chart.yaml"), &meta)
	if meta.APIVersion != "v2" || meta.Name == "" || meta.Version == "" {
		t.Fatalf("Chart.yaml: want apiVersion v2 with a name and a version, got %+v", meta)
	}
	c := &chart{name: meta.Name, version: meta.Version, appVersion: meta.AppVersion, files: map[string]string{}}
	readYAML(t, filepath.Join(dir, "values.yaml"), &c.values)
	entries, err := os.ReadDir(filepath.Join(dir, "templates"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, "templates", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		c.files[c.name+"/templates/"+e.Name()] = string(b)
	}
	return c
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// As Helm: YAML through JSON, so numbers are float64.
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// rendered is one release's output: manifests by template path, and NOTES.
type rendered struct {
	files map[string]string
	notes string
}

// render renders the chart as `helm template RELEASE --namespace NS` with
// overrides merged over values.yaml.
func (c *chart) render(release, namespace string, overrides map[string]any) (*rendered, error) {
	values := mergeValues(c.values, overrides)
	root := template.New("gotpl").Option("missingkey=zero")
	root.Funcs(helmFuncs(root))
	for _, path := range slices.Sorted(maps.Keys(c.files)) {
		if _, err := root.New(path).Parse(c.files[path]); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
	}
	out := &rendered{files: map[string]string{}}
	for _, path := range slices.Sorted(maps.Keys(c.files)) {
		base := filepath.Base(path)
		if strings.HasPrefix(base, "_") {
			continue
		}
		top := map[string]any{
			"Values":  values,
			"Release": map[string]any{"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
			"Chart":   map[string]any{"Name": c.name, "Version": c.version, "AppVersion": c.appVersion},
			"Template": map[string]any{
				"Name": path, "BasePath": c.name + "/templates",
			},
		}
		var b strings.Builder
		if err := root.ExecuteTemplate(&b, path, top); err != nil {
			return nil, fmt.Errorf("render %s: %w", path, err)
		}
		// Helm's engine does the same with what missingkey=zero prints.
		s := strings.ReplaceAll(b.String(), "<no value>", "")
		if base == "NOTES.txt" {
			out.notes = s
		} else {
			out.files[path] = s
		}
	}
	return out, nil
}

// objects decodes every manifest.
func (r *rendered) objects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, path := range slices.Sorted(maps.Keys(r.files)) {
		out = append(out, decode(t, path, []byte(r.files[path]))...)
	}
	return out
}

// helmFuncs are the functions of Helm's engine the chart uses, with
// Sprig's semantics. Anything else fails to parse: add it here, with
// Sprig's behaviour, before using it in a template.
func helmFuncs(root *template.Template) template.FuncMap {
	indent := func(n int, s string) string {
		pad := strings.Repeat(" ", n)
		return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
	}
	return template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var b strings.Builder
			if err := root.ExecuteTemplate(&b, name, data); err != nil {
				return "", err //nolint:wrapcheck // names the template
			}
			return b.String(), nil
		},
		"required": func(msg string, v any) (any, error) {
			if v == nil {
				return nil, errors.New(msg)
			}
			if s, ok := v.(string); ok && s == "" {
				return nil, errors.New(msg)
			}
			return v, nil
		},
		"toYaml": func(v any) string {
			b, err := yaml.Marshal(v)
			if err != nil {
				return ""
			}
			return strings.TrimSuffix(string(b), "\n")
		},
		"indent":  indent,
		"nindent": func(n int, s string) string { return "\n" + indent(n, s) },
		"quote": func(args ...any) string {
			var out []string
			for _, a := range args {
				if a != nil {
					out = append(out, fmt.Sprintf("%q", strval(a)))
				}
			}
			return strings.Join(out, " ")
		},
		"default": func(d any, given ...any) any {
			if len(given) == 0 || empty(given[0]) {
				return d
			}
			return given[0]
		},
		"trunc": func(c int, s string) string {
			if c < 0 && len(s)+c > 0 {
				return s[len(s)+c:]
			}
			if c >= 0 && len(s) > c {
				return s[:c]
			}
			return s
		},
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"replace":    func(old, replacement, s string) string { return strings.ReplaceAll(s, old, replacement) },
		"contains":   func(substr, s string) bool { return strings.Contains(s, substr) },
		"hasKey": func(m map[string]any, key string) bool {
			_, ok := m[key]
			return ok
		},
		"b64enc": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"sha256sum": func(s string) string {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:])
		},
	}
}

// strval is Sprig's string conversion.
func strval(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprintf("%v", v)
}

// empty is Sprig's: zero values, and empty strings, maps and slices.
func empty(v any) bool {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return true
	}
	switch rv.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return rv.Len() == 0
	case reflect.Bool:
		return !rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return rv.IsNil()
	default:
		return false
	}
}

// mergeValues is Helm's coalescing of --set/-f values over the chart's:
// maps merge key by key, anything else replaces.
func mergeValues(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// helmCases are the value sets every test renders: the defaults, the
// optional objects on, every secret and system configured, and secrets
// from a Secret of the user's.
var helmCases = []struct {
	name   string
	values string
	// want lists kinds that must be rendered beyond the defaults' ones.
	want []string
}{
	{name: "defaults"},
	{name: "monitoring and ingress", values: `
serviceMonitor: {enabled: true, labels: {release: prometheus}}
ingress:
  enabled: true
  className: nginx
  annotations: {nginx.ingress.kubernetes.io/proxy-body-size: 1m}
  tls: [{secretName: k3sync-tls, hosts: [k3sync.example.com]}]
`, want: []string{"ServiceMonitor", "Ingress"}},
	{name: "everything", values: `
replicaCount: 3
config:
  inClusterName: eu-west
  clusters:
    eu-west: {qps: 50, burst: 100}
    us-east: {qps: 20, burst: 40, concurrency: 4}
  git: {url: "https://git.example.com/platform.git", username: k3sync, maxObjectBytes: 64Mi}
  state: {qps: 100, burst: 200}
git: {token: not-a-real-token}
tokens:
  - {name: ci, role: operator, token: not-a-real-operator-token}
  - {name: dashboard, role: viewer, token: not-a-real-viewer-token}
kafka:
  main:
    brokers: ["kafka-0:9092", "kafka-1:9092"]
    mutationsPerSecond: 10
    sasl: {mechanism: SCRAM-SHA-512, username: k3sync, password: not-a-real-password}
    tls: {ca: "-----BEGIN CERTIFICATE-----\nnot a real certificate\n-----END CERTIFICATE-----\n"}
kong:
  edge: {adminURL: "https://kong-admin:8444", auth: true, token: not-a-real-kong-token, tls: {insecureSkipVerify: true}}
kubeconfigs:
  us-east: "apiVersion: v1\nkind: Config\n"
webhooks:
  github: {enabled: true, secret: not-a-real-webhook-secret}
serviceMonitor: {enabled: true}
ingress: {enabled: true}
`, want: []string{"ServiceMonitor", "Ingress", "Secret/k3sync-kubeconfigs"}},
	{name: "existing secret", values: `
existingSecret: my-k3sync-secrets
tokens: [{name: ops, role: operator}]
`},
}

func renderCase(t *testing.T, c *chart, values, namespace string) *rendered {
	t.Helper()
	var over map[string]any
	if err := yaml.Unmarshal([]byte(values), &over); err != nil {
		t.Fatal(err)
	}
	r, err := c.render("k3sync", namespace, over)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHelmRenders renders the chart with each value set: every template
// parses with Helm's functions, every manifest is YAML, and the optional
// objects come and go with their switches.
func TestHelmRenders(t *testing.T) {
	c := loadChart(t, helmChart)
	base := []string{"ClusterRole/k3sync", "ClusterRoleBinding/k3sync", "ConfigMap/k3sync", "Deployment/k3sync",
		"PodDisruptionBudget/k3sync", "Role/k3sync", "RoleBinding/k3sync", "Secret/k3sync", "Service/k3sync", "ServiceAccount/k3sync"}
	for _, tc := range helmCases {
		t.Run(tc.name, func(t *testing.T) {
			r := renderCase(t, c, tc.values, "k3sync")
			got := kinds(r.objects(t))
			slices.Sort(got)
			for _, want := range append(slices.Clone(base), tc.want...) {
				if tc.name == "existing secret" && want == "Secret/k3sync" {
					continue
				}
				if !slices.ContainsFunc(got, func(g string) bool { return g == want || strings.HasPrefix(g, want+"/") }) {
					t.Errorf("%s not rendered; got %v", want, got)
				}
			}
			if tc.name == "existing secret" && slices.Contains(got, "Secret/k3sync") {
				t.Error("existingSecret set, yet the chart renders its own Secret")
			}
			if tc.name == "defaults" && (slices.Contains(got, "ServiceMonitor/k3sync") || slices.Contains(got, "Ingress/k3sync")) {
				t.Errorf("ServiceMonitor or Ingress rendered by default: %v", got)
			}
			if !strings.Contains(r.notes, "get lease k3sync-leader") {
				t.Errorf("NOTES.txt does not say how to find the leader:\n%s", r.notes)
			}
		})
	}
	t.Run("required", func(t *testing.T) {
		_, err := c.render("k3sync", "k3sync", map[string]any{"config": map[string]any{"git": map[string]any{"url": ""}}})
		if err == nil || !strings.Contains(err.Error(), "config.git.url is required") {
			t.Fatalf("an empty git URL: got %v, want the required message", err)
		}
	})
}

// TestHelmFuncs pins the renderer's functions to Sprig's behaviour on the
// cases the chart relies on.
func TestHelmFuncs(t *testing.T) {
	root := template.New("t").Option("missingkey=zero")
	root.Funcs(helmFuncs(root))
	for _, tc := range []struct{ tmpl, want string }{
		{`{{ "k3sync-release-with-a-rather-long-name-that-goes-past-the-sixty-three-char-limit" | trunc 63 | trimSuffix "-" }}`, "k3sync-release-with-a-rather-long-name-that-goes-past-the-sixty"},
		{`{{ .missing | default "x" }}`, "x"},
		{`{{ "" | default "x" }}`, "x"},
		{`{{ false | default true }}`, "true"},
		{`{{ 0.0 | default 2.0 }}`, "2"},
		{`{{ "a" | quote }}`, `"a"`},
		{`{{ 3.0 | quote }}`, `"3"`},
		{`{{ .m | toYaml | nindent 2 }}`, "\n  a: 1\n  b:\n  - x"},
		{`{{ "a\nb" | indent 2 }}`, "  a\n  b"},
		{`{{ "1.0+x" | replace "+" "_" }}`, "1.0_x"},
		{`{{ "s" | b64enc }}`, "cw=="},
		{`{{ hasKey .m "a" }} {{ hasKey .m "z" }}`, "true false"},
		{`{{ contains "sync" "k3sync" }}`, "true"},
	} {
		tmpl, err := root.New(tc.tmpl).Parse(tc.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := tmpl.Execute(&b, map[string]any{"m": map[string]any{"a": 1.0, "b": []any{"x"}}}); err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		if got := strings.ReplaceAll(b.String(), "<no value>", ""); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.tmpl, got, tc.want)
		}
	}
}

// TestHelmMatchesHelm renders every value set with the real helm, when
// it is on PATH (or named by $HELM), and compares the objects with the
// renderer's: the renderer is only worth what this comparison shows.
// helm is not a dependency of the module; without it the test skips and
// says so.
func TestHelmMatchesHelm(t *testing.T) {
	helm := os.Getenv("HELM")
	if helm == "" {
		var err error
		if helm, err = exec.LookPath("helm"); err != nil {
			t.Skip("helm not on PATH and $HELM unset: the renderer is not compared with Helm here (TestHelmFuncs still pins its functions)")
		}
	}
	c := loadChart(t, helmChart)
	for _, tc := range helmCases {
		t.Run(tc.name, func(t *testing.T) {
			values := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(values, []byte(tc.values+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), helm, "template", "k3sync", helmChart, "--namespace", "k3sync", "-f", values)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, stderr.String())
			}
			want := decode(t, "helm template", out)
			got := renderCase(t, c, tc.values, "k3sync").objects(t)
			key := func(o *unstructured.Unstructured) string { return o.GetKind() + "/" + o.GetName() }
			slices.SortFunc(want, func(a, b *unstructured.Unstructured) int { return strings.Compare(key(a), key(b)) })
			slices.SortFunc(got, func(a, b *unstructured.Unstructured) int { return strings.Compare(key(a), key(b)) })
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("helm template (-) vs the renderer (+):\n%s", diff)
			}
		})
	}
}
