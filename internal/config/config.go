// Package config reads the k3sync configuration file: how to reach each
// logical cluster, Kafka cluster and gateway named in platform.cue, and
// where to keep state.
//
// # Secrets
//
// Passwords and tokens are never inline: each is read from a file
// (…File) or an environment variable (…Env) when a connection is made, and
// the Secret type never prints its value.
//
// # Example
//
//	clusters:
//	  eu-west: {kubeconfig: /etc/k3sync/eu-west.kubeconfig, context: admin, qps: 50, burst: 100}
//	kafka:
//	  main:
//	    brokers: ["kafka-0:9092"]
//	    sasl: {mechanism: SCRAM-SHA-512, username: k3sync, passwordFile: /etc/k3sync/kafka-password}
//	    tls: {caFile: /etc/k3sync/kafka-ca.pem}
//	gateways:
//	  edge: {adminURL: https://kong-admin:8444, tokenEnv: KONG_ADMIN_TOKEN}
//	state: {path: /var/lib/k3sync/state.db}
//	# or, for replicas on Kubernetes: state: {backend: kubernetes, namespace: k3sync, qps: 50, burst: 100}
package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Config is the k3sync configuration file.
type Config struct {
	Clusters map[string]Cluster `json:"clusters"`
	Kafka    map[string]Kafka   `json:"kafka"`
	Gateways map[string]Gateway `json:"gateways"`
	State    State              `json:"state"`
	Git      Git                `json:"git"`
	Server   Server             `json:"server"`
	// Reconcile tunes the daemon's loop.
	Reconcile Reconcile `json:"reconcile"`
	Forge     Forge     `json:"forge"`
	// Notifications sends events to webhooks, Slack and Teams (notify.go).
	Notifications Notifications `json:"notifications"`
}

// Git says where the platform repo is.
type Git struct {
	URL    string `json:"url"`
	Branch string `json:"branch,omitempty"`
	// Interval between polls (default 30s); webhooks poll earlier.
	Interval Duration `json:"interval,omitempty"`
	// Dir keeps the bare clone (default k3sync-repo next to the state).
	Dir string `json:"dir,omitempty"`
	// Username with passwordFile/passwordEnv (or tokenFile/tokenEnv) for
	// HTTPS.
	Username string `json:"username,omitempty"`
	Secret
	// SSHKeyFile and KnownHostsFile for SSH URLs.
	SSHKeyFile     string `json:"sshKeyFile,omitempty"`
	KnownHostsFile string `json:"knownHostsFile,omitempty"`
	// MaxObjectBytes bounds one object a fetch of the branch or of a pull
	// request brings, inflated: a file, or what a delta rebuilds (default
	// 32Mi). A fetch over it is refused whole, before it takes memory.
	MaxObjectBytes ByteSize `json:"maxObjectBytes,omitempty"`
}

// Server is the daemon's HTTP side.
type Server struct {
	// Listen address (default 127.0.0.1:8080).
	Listen string `json:"listen,omitempty"`
	// Tokens that may call the API, each with a role.
	Tokens   []Token  `json:"tokens"`
	Webhooks Webhooks `json:"webhooks"`
	// Pprof serves Go's runtime profiles at /debug/pprof/ to operator
	// tokens (off by default).
	Pprof bool `json:"pprof,omitempty"`
	// SessionKeys encrypt the dashboard's session cookies (sso.go): the
	// first encrypts, all decrypt, so a key can be rotated.
	SessionKeys []Secret `json:"sessionKeys,omitempty"`
	// SessionTTL is how long a dashboard login lasts (default 8h).
	SessionTTL Duration `json:"sessionTTL,omitempty"`
	// SSO signs in to the dashboard with an OpenID Connect provider.
	SSO *SSO `json:"sso,omitempty"`
}

// Token is an API bearer token with a role: viewer (read) or operator
// (read, trigger syncs, suspend).
type Token struct {
	Name string `json:"name"`
	Role string `json:"role"`
	Secret
}

// Webhooks holds the secrets that sign push and pull request webhooks.
// GitLab does not sign: its secret token is sent as is, in the
// X-Gitlab-Token header.
type Webhooks struct {
	GitHub Secret `json:"github"`
	Gitea  Secret `json:"gitea"`
	GitLab Secret `json:"gitlab"`
}

// Reconcile tunes the daemon's loop.
type Reconcile struct {
	// LeaderElection, when set, runs the loop only while this replica
	// holds a Lease on that cluster (for several replicas on Kubernetes).
	LeaderElection *LeaderElection `json:"leaderElection,omitempty"`
}

// LeaderElection names the Lease replicas compete for.
type LeaderElection struct {
	// Cluster is a logical cluster from clusters, or "in-cluster" for the
	// cluster k3sync runs in.
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Name      string `json:"name,omitempty"`
	// Identity of this replica (default: the host name).
	Identity string `json:"identity,omitempty"`
	// LeaseDuration (default 15s).
	LeaseDuration Duration `json:"leaseDuration,omitempty"`
}

// Duration is a time.Duration written as "30s".
type Duration struct{ time.Duration }

// UnmarshalJSON reads "30s", "5m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes "30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String()) //nolint:wrapcheck // a string cannot fail
}

// ByteSize is a number of bytes, written as a number or with a binary
// suffix: 1048576, "512Ki", "64Mi", "1Gi".
type ByteSize int64

// byteSuffixes are the suffixes ByteSize reads.
var byteSuffixes = []struct {
	suffix string
	shift  uint
}{{"Ki", 10}, {"Mi", 20}, {"Gi", 30}}

// UnmarshalJSON reads a number, or a string of digits with an optional
// Ki, Mi or Gi.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	var n int64
	if err := json.Unmarshal(data, &n); err == nil {
		*b = ByteSize(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("size: %s is not a number of bytes or a string such as \"64Mi\"", data)
	}
	digits, shift := s, uint(0)
	for _, u := range byteSuffixes {
		if d, ok := strings.CutSuffix(s, u.suffix); ok {
			digits, shift = d, u.shift
			break
		}
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || v < 0 || v > math.MaxInt64>>shift {
		return fmt.Errorf("size: %q is not a number of bytes with an optional Ki, Mi or Gi", s)
	}
	*b = ByteSize(v << shift)
	return nil
}

// Cluster says how to reach a logical Kubernetes cluster.
type Cluster struct {
	Kubeconfig string `json:"kubeconfig"`
	// Context in the kubeconfig; its current context when empty.
	Context string `json:"context,omitempty"`
	// QPS and Burst bound client-side request rates (client-go defaults
	// when zero).
	QPS   float32 `json:"qps,omitempty"`
	Burst int     `json:"burst,omitempty"`
	// Concurrency bounds parallel writes during an apply (default 8).
	Concurrency int `json:"concurrency,omitempty"`
	// Timeout bounds one API request (default 1m): an apiserver that
	// stalls fails the run instead of holding it.
	Timeout Duration `json:"timeout,omitempty"`
}

// Kafka says how to reach a Kafka cluster.
type Kafka struct {
	Brokers []string `json:"brokers"`
	TLS     *TLS     `json:"tls,omitempty"`
	SASL    *SASL    `json:"sasl,omitempty"`
	// MutationsPerSecond bounds topic/partition mutations (0: unbounded).
	MutationsPerSecond float64 `json:"mutationsPerSecond,omitempty"`
}

// SASL is a SASL login.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `json:"mechanism"`
	Username  string `json:"username"`
	// Secret holds passwordFile or passwordEnv.
	Secret
}

// Gateway says how to reach a Kong Admin API.
type Gateway struct {
	AdminURL string `json:"adminURL"`
	// Secret holds tokenFile or tokenEnv.
	Secret
	TLS *TLS `json:"tls,omitempty"`
	// Concurrency bounds parallel writes during an apply (default 8).
	Concurrency int `json:"concurrency,omitempty"`
}

// TLS configures a TLS client.
type TLS struct {
	CAFile             string `json:"caFile,omitempty"`
	CertFile           string `json:"certFile,omitempty"`
	KeyFile            string `json:"keyFile,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
}

// ClientConfig is the TLS client configuration c describes: TLS 1.2 at
// least, the CA file's certificates as roots, the client certificate.
func (c *TLS) ClientConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // the operator's explicit choice
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// State says where k3sync keeps its state.
type State struct {
	// Backend is "bolt" (default: one file, one process) or "kubernetes"
	// (Secrets in Namespace, shared by replicas).
	Backend string `json:"backend,omitempty"`
	// Path of the bbolt file (default k3sync.db in the working folder).
	Path string `json:"path,omitempty"`
	// Namespace holds the state Secrets (backend kubernetes).
	Namespace string `json:"namespace,omitempty"`
	// Cluster is a logical cluster from clusters, or "in-cluster" (the
	// default) for the cluster k3sync runs in (backend kubernetes).
	Cluster string `json:"cluster,omitempty"`
	// QPS and Burst bound the state client's request rate (backend
	// kubernetes; default 50 and 100, as Argo CD's controller). It is a
	// client of its own, apart from the cluster's qps, which bounds the
	// applies: a sync writes each tenant's Secrets several times, and
	// client-go's default of 5 QPS would hold a first sync of 1,000
	// tenants, about 15,000 state requests, for most of an hour.
	QPS   float32 `json:"qps,omitempty"`
	Burst int     `json:"burst,omitempty"`
}

// ReservedNamespaces are the namespaces k3sync itself uses, which no
// tenant may claim on any cluster: the state namespace (backend
// kubernetes), the leader election Lease's, and the namespace k3sync runs
// in (POD_NAMESPACE, from the downward API, when set).
func (c *Config) ReservedNamespaces() []string {
	var out []string
	add := func(ns string) {
		if ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	if c.State.Backend == "kubernetes" {
		add(c.State.Namespace)
	}
	if le := c.Reconcile.LeaderElection; le != nil {
		add(le.Namespace)
	}
	add(os.Getenv("POD_NAMESPACE"))
	return out
}

// Secret is a reference to a secret value: a file or an environment
// variable. The value itself is read by Value and never printed.
type Secret struct {
	PasswordFile string `json:"passwordFile,omitempty"`
	PasswordEnv  string `json:"passwordEnv,omitempty"`
	TokenFile    string `json:"tokenFile,omitempty"`
	TokenEnv     string `json:"tokenEnv,omitempty"`
	SecretFile   string `json:"secretFile,omitempty"`
	SecretEnv    string `json:"secretEnv,omitempty"`
}

// IsSet reports whether the secret refers to anything.
func (s Secret) IsSet() bool {
	return s.PasswordFile != "" || s.PasswordEnv != "" || s.TokenFile != "" || s.TokenEnv != "" || s.SecretFile != "" || s.SecretEnv != ""
}

// Value reads the secret; empty when none is configured.
func (s Secret) Value() (string, error) {
	file, env := s.PasswordFile, s.PasswordEnv
	switch {
	case s.TokenFile != "" || s.TokenEnv != "":
		file, env = s.TokenFile, s.TokenEnv
	case s.SecretFile != "" || s.SecretEnv != "":
		file, env = s.SecretFile, s.SecretEnv
	}
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("secret environment variable %s is not set", env)
		}
		return v, nil
	}
	return "", nil
}

// String never shows the value.
func (s Secret) String() string {
	switch {
	case s.PasswordFile != "" || s.TokenFile != "" || s.SecretFile != "":
		return "(secret from file)"
	case s.PasswordEnv != "" || s.TokenEnv != "" || s.SecretEnv != "":
		return "(secret from environment)"
	}
	return "(none)"
}

// Load reads and checks the config file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a config from YAML or JSON. Unknown fields are errors, so
// that a misspelt key never silently does nothing.
func Parse(b []byte) (*Config, error) {
	c := &Config{}
	if err := yaml.UnmarshalStrict(b, c); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	var errs []error
	for name, cl := range c.Clusters {
		if cl.Kubeconfig == "" {
			errs = append(errs, fmt.Errorf("clusters.%s.kubeconfig: required", name))
		}
	}
	for name, k := range c.Kafka {
		if len(k.Brokers) == 0 {
			errs = append(errs, fmt.Errorf("kafka.%s.brokers: at least one broker is required", name))
		}
		if k.SASL != nil {
			switch k.SASL.Mechanism {
			case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
			default:
				errs = append(errs, fmt.Errorf("kafka.%s.sasl.mechanism: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", name, k.SASL.Mechanism))
			}
		}
	}
	for name, g := range c.Gateways {
		if g.AdminURL == "" {
			errs = append(errs, fmt.Errorf("gateways.%s.adminURL: required", name))
		}
	}
	for i, t := range c.Server.Tokens {
		if t.Role != "viewer" && t.Role != "operator" {
			errs = append(errs, fmt.Errorf("server.tokens[%d] (%s): role %q is not viewer or operator", i, t.Name, t.Role))
		}
		if !t.IsSet() {
			errs = append(errs, fmt.Errorf("server.tokens[%d] (%s): tokenFile or tokenEnv is required", i, t.Name))
		}
	}
	switch c.State.Backend {
	case "", "bolt":
	case "kubernetes":
		if c.State.Namespace == "" {
			errs = append(errs, errors.New("state.namespace: required with backend kubernetes"))
		}
		if c.State.Cluster == "" {
			c.State.Cluster = "in-cluster"
		}
		if _, ok := c.Clusters[c.State.Cluster]; !ok && c.State.Cluster != "in-cluster" {
			errs = append(errs, fmt.Errorf("state.cluster: %q is not in-cluster or in clusters", c.State.Cluster))
		}
		if c.State.QPS < 0 || c.State.Burst < 0 {
			errs = append(errs, fmt.Errorf("state.qps, state.burst: %v and %d: must not be negative", c.State.QPS, c.State.Burst))
		}
	default:
		errs = append(errs, fmt.Errorf("state.backend: %q is not bolt or kubernetes", c.State.Backend))
	}
	if err := c.Forge.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Server.validateSessions(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Notifications.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.State.Path == "" {
		c.State.Path = "k3sync.db"
	}
	if c.Server.Listen == "" {
		c.Server.Listen = "127.0.0.1:8080"
	}
	if c.Git.Branch == "" {
		c.Git.Branch = "main"
	}
	if c.Git.Interval.Duration == 0 {
		c.Git.Interval.Duration = 30 * time.Second
	}
	if c.Git.MaxObjectBytes < 0 {
		errs = append(errs, fmt.Errorf("git.maxObjectBytes: %d is negative", c.Git.MaxObjectBytes))
	}
	return c, errors.Join(errs...)
}
