package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// FieldManager is the server-side apply field manager of k3sync.
const FieldManager = "k3sync"

// DefaultConcurrency bounds parallel writes per cluster.
const DefaultConcurrency = 8

// DefaultRequestTimeout bounds one API request when neither the config
// (clusters.<name>.timeout) nor the client config sets a timeout.
const DefaultRequestTimeout = time.Minute

// Target is one logical Kubernetes cluster.
type Target struct {
	name      string
	dyn       dynamic.Interface
	clientset kubernetes.Interface
	// meta applies: the apiserver answers with the object's metadata
	// only (protobuf), all an apply needs of the answer.
	meta        metadata.Interface
	store       state.Store
	concurrency int
	stats       *Stats

	schemaMu sync.Mutex
	schema   *typeSchema

	// headsMu guards heads: the inventory entries the last plans
	// decoded, by tenant and object ID, so that the daemon's next plan
	// decodes only the entries that changed (headMemo).
	headsMu sync.Mutex
	heads   map[string]map[string]memoHead
}

// Stats counts the requests a target sent, by kind of request.
type Stats struct {
	Reads  atomic.Int64
	Writes atomic.Int64
}

// Option tunes a Target.
type Option func(*Target)

// WithConcurrency bounds parallel writes (default 8).
func WithConcurrency(n int) Option {
	return func(t *Target) {
		if n > 0 {
			t.concurrency = n
		}
	}
}

// New connects to the cluster named name as cfg says. Nothing is sent
// until the first plan.
func New(name string, cfg config.Cluster, store state.Store, opts ...Option) (*Target, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.Kubeconfig}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster %s: kubeconfig %s: %w", name, cfg.Kubeconfig, err)
	}
	if cfg.QPS > 0 {
		rc.QPS = cfg.QPS
	}
	if cfg.Burst > 0 {
		rc.Burst = cfg.Burst
	}
	if cfg.Timeout.Duration > 0 {
		rc.Timeout = cfg.Timeout.Duration
	}
	t, err := NewForConfig(name, rc, store, opts...)
	if err != nil {
		return nil, err
	}
	if cfg.Concurrency > 0 {
		t.concurrency = cfg.Concurrency
	}
	return t, nil
}

// NewForConfig is New with a client configuration.
func NewForConfig(name string, rc *rest.Config, store state.Store, opts ...Option) (*Target, error) {
	if store == nil {
		return nil, errors.New("kubernetes target: no state store")
	}
	t := &Target{name: name, store: store, concurrency: DefaultConcurrency, stats: &Stats{}}
	for _, o := range opts {
		o(t)
	}
	rc = rest.CopyConfig(rc)
	if rc.Timeout <= 0 {
		// Without it client-go waits forever for an apiserver (or a load
		// balancer) that stalls, and the run, with every tenant queued
		// behind it, never ends.
		rc.Timeout = DefaultRequestTimeout
	}
	if rc.UserAgent == "" {
		rc.UserAgent = "k3sync"
	}
	counted := t.stats
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				counted.Reads.Add(1)
			} else {
				counted.Writes.Add(1)
			}
			return rt.RoundTrip(r)
		})
	})
	// One rate limiter for every client of the target: the configured
	// QPS is the cluster's budget, not each client's.
	if rc.RateLimiter == nil && rc.QPS >= 0 {
		qps, burst := rc.QPS, rc.Burst
		if qps == 0 {
			qps = rest.DefaultQPS
		}
		if burst == 0 {
			burst = rest.DefaultBurst
		}
		rc.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(qps, burst)
	}
	var err error
	if t.meta, err = metadata.NewForConfig(rc); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	if t.dyn, err = dynamic.NewForConfig(rc); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	if t.clientset, err = kubernetes.NewForConfig(rc); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	return t, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// System implements the orchestrator's Target.
func (t *Target) System() plan.System { return plan.Kubernetes }

// Name is the logical cluster name.
func (t *Target) Name() string { return t.name }

// Stats returns the request counters.
func (t *Target) Stats() *Stats { return t.stats }

// stateTarget is the state store's target key.
func (t *Target) stateTarget() string { return string(plan.Kubernetes) + "/" + t.name }

// Clientset is the typed client of the cluster, for the parts of the
// daemon that write other kinds (credential Secrets, the leader Lease).
func (t *Target) Clientset() kubernetes.Interface { return t.clientset }

// OwnsNamespace reports whether the inventory lists namespace as the
// tenant's on this cluster (what credential delivery checks first).
func (t *Target) OwnsNamespace(ctx context.Context, tenant, namespace string) (bool, error) {
	e, err := t.store.Load(ctx, tenant, t.stateTarget())
	if err != nil {
		return false, fmt.Errorf("cluster %s: inventory: %w", t.name, err)
	}
	_, ok := e.Resources[objectID("Namespace", "", namespace)]
	return ok, nil
}
