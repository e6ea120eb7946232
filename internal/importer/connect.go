package importer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gokong "github.com/kong/go-kong/kong"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/k3sync/k3sync/internal/config"
)

// Sources are the live systems an import reads: plain clients, built from
// the config the way the targets build theirs.
type Sources struct {
	// Clusters are the Kubernetes clusters, by logical name.
	Clusters map[string]kubernetes.Interface
	// KafkaCluster names the Kafka cluster Kafka reads (empty: none).
	KafkaCluster string
	Kafka        *kadm.Client
	// KafkaClient is Kafka's client, for the requests kadm has no call for.
	KafkaClient *kgo.Client
	// Gateway names the Kong gateway Kong reads (empty: none).
	Gateway string
	Kong    *gokong.Client

	closers []func()
}

// Close closes the connections.
func (s *Sources) Close() {
	for _, c := range s.closers {
		c()
	}
	s.closers = nil
}

// Connect builds the clients of every cluster of cfg, of its Kafka
// cluster kafkaName and of its gateway gatewayName. An empty name means
// the only one the config has, or none when it has none; a config with
// several needs the name. Nothing is sent until the import reads.
func Connect(cfg *config.Config, kafkaName, gatewayName string) (*Sources, error) {
	s := &Sources{Clusters: map[string]kubernetes.Interface{}}
	for name, c := range cfg.Clusters {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Kubeconfig}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
		rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster %s: kubeconfig %s: %w", name, c.Kubeconfig, err)
		}
		if c.QPS > 0 {
			rc.QPS = c.QPS
		}
		if c.Burst > 0 {
			rc.Burst = c.Burst
		}
		rc.UserAgent = "k3sync-import"
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		s.Clusters[name] = cs
	}
	var err error
	if s.KafkaCluster, err = pick("Kafka cluster", "--kafka-cluster", kafkaName, keys(cfg.Kafka)); err != nil {
		return nil, err
	}
	if s.KafkaCluster != "" {
		opts, err := kafkaOptions(cfg.Kafka[s.KafkaCluster])
		if err != nil {
			return nil, fmt.Errorf("kafka %s: %w", s.KafkaCluster, err)
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("kafka %s: client: %w", s.KafkaCluster, err)
		}
		s.Kafka, s.KafkaClient = kadm.NewClient(cl), cl
		s.closers = append(s.closers, cl.Close)
	}
	if s.Gateway, err = pick("gateway", "--gateway", gatewayName, keys(cfg.Gateways)); err != nil {
		s.Close()
		return nil, err
	}
	if s.Gateway != "" {
		if s.Kong, err = kongClient(cfg.Gateways[s.Gateway]); err != nil {
			s.Close()
			return nil, fmt.Errorf("kong gateway %s: %w", s.Gateway, err)
		}
	}
	return s, nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// pick is name when the config has it, else the config's only one.
func pick(what, flag, name string, known []string) (string, error) {
	switch {
	case name != "" && slices.Contains(known, name):
		return name, nil
	case name != "":
		return "", fmt.Errorf("%s %q is not in the config file (known: %s)", what, name, strings.Join(known, ", "))
	case len(known) == 1:
		return known[0], nil
	case len(known) == 0:
		return "", nil
	}
	return "", fmt.Errorf("the config file has several %ss (%s): choose one with %s", what, strings.Join(known, ", "), flag)
}

// kafkaOptions are the franz-go options of cfg, as the Kafka target
// builds them: brokers, TLS and SASL (the password read at each login).
func kafkaOptions(cfg config.Kafka) ([]kgo.Opt, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("no brokers")
	}
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("k3sync-import")}
	if cfg.TLS != nil {
		tc, err := cfg.TLS.ClientConfig()
		if err != nil {
			return nil, err //nolint:wrapcheck // names the file
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if s := cfg.SASL; s != nil {
		if _, err := s.Value(); err != nil {
			return nil, fmt.Errorf("sasl %s: %w", s.Username, err)
		}
		var m sasl.Mechanism
		switch s.Mechanism {
		case "PLAIN":
			m = plain.Plain(func(context.Context) (plain.Auth, error) {
				pass, err := s.Value()
				return plain.Auth{User: s.Username, Pass: pass}, err
			})
		case "SCRAM-SHA-256", "SCRAM-SHA-512":
			fn := func(context.Context) (scram.Auth, error) {
				pass, err := s.Value()
				return scram.Auth{User: s.Username, Pass: pass}, err
			}
			m = scram.Sha512(fn)
			if s.Mechanism == "SCRAM-SHA-256" {
				m = scram.Sha256(fn)
			}
		default:
			return nil, fmt.Errorf("sasl mechanism %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// kongClient is a go-kong client of the Admin API with the token (read
// now) on every request.
func kongClient(cfg config.Gateway) (*gokong.Client, error) {
	u, err := url.Parse(cfg.AdminURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("adminURL %q: want http(s)://host[:port]", cfg.AdminURL)
	}
	token, err := cfg.Value()
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.TLS != nil {
		tc, err := cfg.TLS.ClientConfig()
		if err != nil {
			return nil, err //nolint:wrapcheck // names the file
		}
		tr.TLSClientConfig = tc
	}
	hc := &http.Client{Timeout: time.Minute, Transport: tokenTransport{base: tr, token: token}}
	c, err := gokong.NewClient(gokong.String(strings.TrimRight(cfg.AdminURL, "/")), hc)
	if err != nil {
		return nil, err //nolint:wrapcheck // go-kong says what is wrong
	}
	return c, nil
}

type tokenTransport struct {
	base  http.RoundTripper
	token string
}

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Kong-Admin-Token", t.token)
	}
	return t.base.RoundTrip(r) //nolint:wrapcheck // a transport passes errors through
}
