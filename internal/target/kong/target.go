package kong

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// DefaultConcurrency bounds the writes in flight on one gateway.
const DefaultConcurrency = 8

// TokenHeader carries the Admin API token.
const TokenHeader = "Kong-Admin-Token"

// CredentialSink receives the key-auth keys k3sync generates. The daemon
// delivers them as a Kubernetes Secret in the tenant's namespace. A new
// consumer's key is delivered before Kong gets it; a rotated key after
// Kong has it and before the old one is deleted.
type CredentialSink interface {
	Deliver(ctx context.Context, tenant, consumer, key string) error
}

// Target plans and applies the tenants' desired state on one Kong gateway.
type Target struct {
	name        string
	stateID     string
	adminURL    string
	token       config.Secret
	store       state.Store
	sink        CredentialSink
	concurrency int
	now         func() time.Time
	transport   http.RoundTripper
	// writes bounds the writes in flight across every tenant's syncer.
	writes chan struct{}
	// memo remembers the tenants whose last diff found nothing to do.
	memo memo
	// diffs counts the tenants diffed, by go-database-reconciler or the
	// quick check, for tests of the memo; batched those of them a batch
	// found with nothing to do (diffBatch), quick those the quick check
	// found so (quickClean).
	diffs, batched, quick atomic.Int64
}

// Option tunes a Target.
type Option func(*Target)

// WithConcurrency bounds the writes in flight (default cfg.Concurrency,
// else DefaultConcurrency).
func WithConcurrency(n int) Option {
	return func(t *Target) {
		if n > 0 {
			t.concurrency = n
		}
	}
}

// WithTransport replaces the HTTP transport built from cfg.TLS, for tests
// and for callers that add their own instrumentation. The admin token is
// still added to every request.
func WithTransport(rt http.RoundTripper) Option {
	return func(t *Target) { t.transport = rt }
}

// WithClock sets the clock that stamps state entries.
func WithClock(now func() time.Time) Option {
	return func(t *Target) { t.now = now }
}

// New returns the target of the gateway name, reached as cfg says. It does
// not connect: the first plan does. The admin token is read from cfg at
// the start of every plan, apply and rotation, never kept in the Target.
// store keeps what k3sync last applied, the base that tells drift from
// changes in Git; sink receives generated key-auth keys (nil: consumers
// that need a key fail to get one).
func New(name string, cfg config.Gateway, store state.Store, sink CredentialSink, opts ...Option) (*Target, error) {
	if name == "" {
		return nil, errors.New("kong target: empty gateway name")
	}
	if store == nil {
		return nil, fmt.Errorf("kong gateway %s: no state store", name)
	}
	u, err := url.Parse(cfg.AdminURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("kong gateway %s: adminURL %q: want http(s)://host[:port]", name, cfg.AdminURL)
	}
	t := &Target{
		name:        name,
		stateID:     string(plan.Kong) + "/" + name,
		adminURL:    strings.TrimRight(cfg.AdminURL, "/"),
		token:       cfg.Secret,
		store:       store,
		sink:        sink,
		concurrency: DefaultConcurrency,
		now:         time.Now,
	}
	if cfg.Concurrency > 0 {
		t.concurrency = cfg.Concurrency
	}
	for _, o := range opts {
		o(t)
	}
	if t.transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = t.concurrency + 4
		if cfg.TLS != nil {
			tc, err := cfg.TLS.ClientConfig()
			if err != nil {
				return nil, fmt.Errorf("kong gateway %s: %w", name, err)
			}
			tr.TLSClientConfig = tc
		}
		t.transport = tr
	}
	t.writes = make(chan struct{}, t.concurrency)
	return t, nil
}

// System is plan.Kong.
func (t *Target) System() plan.System { return plan.Kong }

// Name is the gateway name.
func (t *Target) Name() string { return t.name }
