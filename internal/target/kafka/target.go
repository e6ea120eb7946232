package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// CredentialSink receives the SCRAM passwords k3sync generates. The daemon
// delivers them as a Kubernetes Secret in the tenant's namespace. Deliver
// is called before Kafka gets the password, so a failed delivery leaves
// the user's credential as it was.
type CredentialSink interface {
	Deliver(ctx context.Context, tenant, user, mechanism, password string) error
}

// Target plans and applies the tenants' desired state on one Kafka cluster.
type Target struct {
	// mu serializes applies: each reads the inventory, writes Kafka and
	// saves the inventory, and two at once would lose each other's saves.
	mu sync.Mutex

	name    string
	stateID string
	store   state.Store
	sink    CredentialSink
	client  *kgo.Client
	admin   *kadm.Client
	limiter *bucket
	now     func() time.Time
}

// Option tunes a Target.
type Option func(*options)

type options struct {
	client []kgo.Opt
	now    func() time.Time
}

// WithClientOptions adds franz-go client options after the ones built from
// the config: hooks for metrics, a custom dialer, a logger.
func WithClientOptions(opts ...kgo.Opt) Option {
	return func(o *options) { o.client = append(o.client, opts...) }
}

// WithClock sets the clock that stamps state entries.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// New returns the target of the Kafka cluster name, reached as cfg says.
// It does not connect: the first plan does. The SASL password is read from
// cfg.SASL on every login, never kept in the Target.
func New(name string, cfg config.Kafka, store state.Store, sink CredentialSink, opts ...Option) (*Target, error) {
	if name == "" {
		return nil, errors.New("kafka target: empty cluster name")
	}
	if store == nil {
		return nil, fmt.Errorf("kafka %s: no state store", name)
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	kopts, err := clientOptions(cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka %s: %w", name, err)
	}
	cl, err := kgo.NewClient(append(kopts, o.client...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka %s: client: %w", name, err)
	}
	return &Target{
		name:    name,
		stateID: "kafka/" + name,
		store:   store,
		sink:    sink,
		client:  cl,
		admin:   kadm.NewClient(cl),
		limiter: newBucket(cfg.MutationsPerSecond),
		now:     o.now,
	}, nil
}

// System is plan.Kafka.
func (t *Target) System() plan.System { return plan.Kafka }

// Name is the Kafka cluster name.
func (t *Target) Name() string { return t.name }

// Close closes the connections to the brokers.
func (t *Target) Close() { t.client.Close() }

// clientOptions builds the franz-go options of cfg: brokers, TLS and SASL.
func clientOptions(cfg config.Kafka) ([]kgo.Opt, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("no brokers")
	}
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("k3sync")}
	if cfg.TLS != nil {
		tc, err := cfg.TLS.ClientConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if cfg.SASL != nil {
		m, err := saslMechanism(cfg.SASL)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// saslMechanism reads the password at each login, so that a rotated
// password file is picked up and the password never lives in the Target.
func saslMechanism(s *config.SASL) (sasl.Mechanism, error) {
	if _, err := s.Value(); err != nil {
		return nil, fmt.Errorf("sasl %s: %w", s.Username, err)
	}
	secret := func() (string, error) {
		v, err := s.Value()
		if err != nil {
			return "", fmt.Errorf("sasl %s: %w", s.Username, err)
		}
		return v, nil
	}
	switch s.Mechanism {
	case "PLAIN":
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			pass, err := secret()
			return plain.Auth{User: s.Username, Pass: pass}, err
		}), nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		fn := func(context.Context) (scram.Auth, error) {
			pass, err := secret()
			return scram.Auth{User: s.Username, Pass: pass}, err
		}
		if s.Mechanism == "SCRAM-SHA-256" {
			return scram.Sha256(fn), nil
		}
		return scram.Sha512(fn), nil
	}
	return nil, fmt.Errorf("sasl mechanism %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
}
