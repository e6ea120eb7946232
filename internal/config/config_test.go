package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KONG_TOKEN_TEST", "tok")
	c, err := Parse([]byte(`
clusters:
  eu-west: {kubeconfig: /tmp/kc, context: admin, qps: 50, burst: 100}
kafka:
  main:
    brokers: ["127.0.0.1:9092"]
    sasl: {mechanism: SCRAM-SHA-512, username: k3sync, passwordFile: ` + pw + `}
gateways:
  edge: {adminURL: "http://127.0.0.1:8001", tokenEnv: KONG_TOKEN_TEST}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Clusters["eu-west"]; got.Context != "admin" || got.QPS != 50 || got.Burst != 100 {
		t.Errorf("cluster: got %+v", got)
	}
	if v, err := c.Kafka["main"].SASL.Value(); err != nil || v != "s3cret" {
		t.Errorf("kafka password: got %q, %v", v, err)
	}
	if v, err := c.Gateways["edge"].Value(); err != nil || v != "tok" {
		t.Errorf("gateway token: got %q, %v", v, err)
	}
	if s := c.Kafka["main"].SASL.Secret.String(); strings.Contains(s, "s3cret") || strings.Contains(s, pw) {
		t.Errorf("secret printed as %q", s)
	}
	if c.State.Path != "k3sync.db" {
		t.Errorf("default state path: got %q", c.State.Path)
	}
}

func TestParseRejects(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown field":  {"clusters: {a: {kubeconfg: x}}", `unknown field "kubeconfg"`},
		"no kubeconfig":  {"clusters: {a: {context: x}}", "clusters.a.kubeconfig: required"},
		"no brokers":     {"kafka: {main: {}}", "kafka.main.brokers"},
		"bad mechanism":  {"kafka: {main: {brokers: [x], sasl: {mechanism: GSSAPI}}}", `"GSSAPI" is not PLAIN`},
		"no admin url":   {"gateways: {edge: {}}", "gateways.edge.adminURL: required"},
		"inline secrets": {"kafka: {main: {brokers: [x], sasl: {mechanism: PLAIN, password: hunter2}}}", `unknown field "password"`},
		"object limit":   {"git: {url: x, maxObjectBytes: -1}", "git.maxObjectBytes: -1 is negative"},
		"object suffix":  {"git: {url: x, maxObjectBytes: 64MB}", `"64MB" is not a number of bytes`},
		"state rate":     {"state: {backend: kubernetes, namespace: k3sync, qps: -1}", "state.qps, state.burst: -1 and 0: must not be negative"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestSecretFromMissingEnv(t *testing.T) {
	_, err := Secret{TokenEnv: "K3SYNC_TEST_UNSET_VAR"}.Value()
	if err == nil || !strings.Contains(err.Error(), "K3SYNC_TEST_UNSET_VAR is not set") {
		t.Errorf("got %v", err)
	}
}

func TestReservedNamespaces(t *testing.T) {
	tests := []struct {
		name, yaml, podNamespace string
		want                     []string
	}{
		{name: "bolt state, no pod namespace", yaml: "state: {path: /tmp/k3sync.db}"},
		{name: "the namespace k3sync runs in", yaml: "state: {path: /tmp/k3sync.db}", podNamespace: "platform-system", want: []string{"platform-system"}},
		{
			name:         "state and leader election namespaces, once each",
			yaml:         "state: {backend: kubernetes, namespace: k3sync}\nreconcile: {leaderElection: {cluster: in-cluster, namespace: k3sync-lease}}",
			podNamespace: "k3sync",
			want:         []string{"k3sync", "k3sync-lease"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", tt.podNamespace)
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ReservedNamespaces(); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestByteSize reads git.maxObjectBytes as a number or with a suffix.
func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1048576": 1 << 20, `"1048576"`: 1 << 20, "512Ki": 512 << 10, "64Mi": 64 << 20, "2Gi": 2 << 30} {
		c, err := Parse([]byte("git: {url: x, maxObjectBytes: " + in + "}"))
		if err != nil {
			t.Errorf("maxObjectBytes: %s: %v", in, err)
			continue
		}
		if c.Git.MaxObjectBytes != want {
			t.Errorf("maxObjectBytes: %s: got %d, want %d", in, c.Git.MaxObjectBytes, want)
		}
	}
}
