// Package daemon assembles `k3sync serve` from its configuration: the
// targets, the Git source, credential delivery, the reconcile loop, the
// HTTP API and, when configured, leader election.
//
// # Lifecycle
//
// New connects nothing; Start runs the parts until its context ends. With
// leader election, every replica serves the API (followers report not
// ready) and only the Lease holder runs the loop; losing the Lease stops
// the loop at once, and the state writes it still has in flight fail
// (state.ErrNotLeader, with the Kubernetes backend).
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/credentials"
	"github.com/k3sync/k3sync/internal/leader"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/notify"
	"github.com/k3sync/k3sync/internal/reconcile"
	"github.com/k3sync/k3sync/internal/review"
	"github.com/k3sync/k3sync/internal/source"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/target/registry"
	"github.com/k3sync/k3sync/internal/view"
)

// Options tune a daemon.
type Options struct {
	Logger *slog.Logger
	// Metrics records the loop; nil records nothing.
	Metrics reconcile.Metrics
	// ForgeMetrics counts the forge's rate limits and dropped statuses;
	// nil records nothing.
	ForgeMetrics review.Metrics
	// Now is the loop's clock (sync windows, timestamps); time.Now when nil.
	Now func() time.Time
}

// Daemon is k3sync serve.
type Daemon struct {
	cfg        *config.Config
	log        *slog.Logger
	store      StateStore
	source     *source.Poller
	Reconciler *reconcile.Reconciler
	elector    *leader.Elector
	review     *review.Loop
	targets    []apply.Target
	closers    []func()
	// loaderCache is the reconciler's and the review loop's.
	loaderCache *loader.Cache

	// Notifier sends the notifications section's events, nil when none is
	// configured; it is a prometheus.Collector of their counts.
	Notifier *notify.Notifier
}

// New builds the daemon from cfg.
func New(cfg *config.Config, opts Options) (_ *Daemon, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	d := &Daemon{cfg: cfg, log: opts.Logger}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if cfg.Git.URL == "" {
		return nil, errors.New("config: git.url is required to serve")
	}
	if d.store, err = OpenState(cfg, stateLockWait); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { _ = d.store.Close() })
	srcOpts := []source.Option{source.WithLogger(d.log)}
	if m, ok := opts.Metrics.(interface{ SourceRecloned() }); ok {
		srcOpts = append(srcOpts, source.OnReclone(m.SourceRecloned))
	}
	if d.source, err = newSource(cfg, srcOpts...); err != nil {
		return nil, err
	}

	var rec *reconcile.Reconciler
	set, err := registry.Build(cfg, d.store, func() credentials.Tenants {
		if repo := rec.Repo(); repo != nil {
			return repo
		}
		return noTenants{}
	})
	if err != nil {
		return nil, err //nolint:wrapcheck // names the target
	}
	d.closers = append(d.closers, set.Close)
	d.targets = set.Targets
	loaderOpts, err := LoaderOptions(cfg)
	if err != nil {
		return nil, err
	}
	// One cache of tenant evaluations for the reconciler and the review
	// loop (ADR 0008): a pull request's tree shares all but a few folders
	// with the branch the reconciler loaded, so the first pull request
	// after a start evaluates only its own folders, and the branch's
	// evaluations are held once.
	loads := reconcilerCacheLoads
	if cfg.Forge.Enabled() {
		loads += reviewCacheLoads
	}
	loaderOpts.Cache = loader.NewCache(loads)
	d.loaderCache = loaderOpts.Cache
	notifier, err := notify.FromConfig(cfg.Notifications, d.log)
	if err != nil {
		return nil, err
	}
	d.Notifier = notifier
	d.closers = append(d.closers, notifier.Close)
	rec = reconcile.New(gitSource{d.source}, apply.New(set.Targets...), d.store, reconcile.Options{
		Interval: cfg.Git.Interval.Duration, Logger: d.log, Metrics: opts.Metrics, Now: opts.Now,
		// The forge's k3sync/apply status; d.review is set just below.
		OnApplied: func(ctx context.Context, rev string, runs []state.Run) { d.ReportApplied(ctx, rev, runs) },
		Loader:    loaderOpts,
		Notifier:  notifier,
	})
	d.Reconciler = rec
	if d.review, err = newReview(cfg, d.source, d.store, set.Targets, rec, loaderOpts, d.log, opts.ForgeMetrics); err != nil {
		return nil, err
	}
	if le := cfg.Reconcile.LeaderElection; le != nil {
		if d.elector, err = newElector(le, set.Clientsets); err != nil {
			return nil, err
		}
		// Replicas share the Secrets: one that lost the Lease must not
		// write over what the new leader wrote.
		if k, ok := d.store.(*state.Kube); ok {
			k.SetFence(d.elector.Fence)
		}
	}
	return d, nil
}

// Start runs the loop (under leader election when configured) until ctx
// ends.
func (d *Daemon) Start(ctx context.Context) error {
	if d.elector == nil {
		return d.run(ctx)
	}
	for ctx.Err() == nil {
		if err := d.elector.Run(ctx, func(ctx context.Context) { _ = d.run(ctx) }); err != nil {
			return err //nolint:wrapcheck // names the lease
		}
	}
	return nil
}

// Ready is the daemon's readiness: leading (if electing) and synced once.
func (d *Daemon) Ready() error {
	if d.elector != nil && !d.elector.Leading() {
		return errors.New("not the leader: another replica applies")
	}
	return d.Reconciler.Ready() //nolint:wrapcheck // says why
}

// Close releases the state file and clients.
func (d *Daemon) Close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

func newSource(cfg *config.Config, opts ...source.Option) (*source.Poller, error) {
	g := cfg.Git
	dir := g.Dir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(cfg.State.Path), "k3sync-repo")
	}
	auth := source.Auth{Username: g.Username}
	pw, err := g.Value()
	if err != nil {
		return nil, fmt.Errorf("git credentials: %w", err)
	}
	auth.Password = pw
	if g.SSHKeyFile != "" {
		if auth.SSHKey, err = os.ReadFile(g.SSHKeyFile); err != nil {
			return nil, fmt.Errorf("git ssh key: %w", err)
		}
		if auth.KnownHosts, err = os.ReadFile(g.KnownHostsFile); err != nil {
			return nil, fmt.Errorf("git known hosts: %w", err)
		}
	}
	p, err := source.New(source.Config{URL: g.URL, Branch: g.Branch, Dir: dir, Interval: g.Interval.Duration, Auth: auth, MaxObjectBytes: int64(g.MaxObjectBytes)}, opts...)
	if err != nil {
		return nil, err //nolint:wrapcheck // redacted by source
	}
	return p, nil
}

func newElector(le *config.LeaderElection, clients map[string]kubernetes.Interface) (*leader.Elector, error) {
	var cs kubernetes.Interface
	if le.Cluster == "in-cluster" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("leader election: %w", err)
		}
		if cs, err = kubernetes.NewForConfig(rc); err != nil {
			return nil, fmt.Errorf("leader election: %w", err)
		}
	} else {
		var ok bool
		if cs, ok = clients[le.Cluster]; !ok {
			return nil, fmt.Errorf("leader election: cluster %q is not in clusters", le.Cluster)
		}
	}
	id := le.Identity
	if id == "" {
		id, _ = os.Hostname()
	}
	lc := leader.Config{Namespace: le.Namespace, Name: leaseName(le), Identity: id, LeaseDuration: le.LeaseDuration.Duration}
	if d := lc.LeaseDuration; d > 0 {
		// client-go wants lease > renew deadline > retry period; keep
		// controller-runtime's 15:10:2 for any lease duration.
		lc.RenewDeadline, lc.RetryPeriod = d*2/3, d*2/15
	}
	return leader.New(cs, lc) //nolint:wrapcheck // says what is missing
}

// StateStore is what k3sync keeps state in: inventory, last applied
// state and the journal.
type StateStore interface {
	state.Store
	state.Journal
	Close() error
}

// LoaderOptions are what the loader needs from cfg, for the daemon and
// for `k3sync plan/apply/validate --config`, which must judge a repo
// alike: k3sync's own namespaces, which no tenant may claim.
// Tenant folders are evaluated in a sandbox child process, bounded in time
// and memory (loader.Sandbox): the same executable, whose main calls
// loader.ChildMain.
func LoaderOptions(cfg *config.Config) (loader.Options, error) {
	sb, err := loader.NewSandbox()
	if err != nil {
		return loader.Options{}, err //nolint:wrapcheck // names the sandbox
	}
	return loader.Options{ReservedNamespaces: cfg.ReservedNamespaces(), Sandbox: sb}, nil
}

func leaseName(le *config.LeaderElection) string {
	if le.Name == "" {
		return "k3sync-leader"
	}
	return le.Name
}

// How many recent loads' tenant evaluations the shared loader cache
// keeps: the reconciler's last revisions (a revert is free) and, with a
// forge, the review loop's last loads (a pass's base and pull requests).
const (
	reconcilerCacheLoads = 2
	reviewCacheLoads     = 8
)

// stateLockWait is how long a daemon waits for the bbolt file (a
// replaced pod's predecessor may still be closing it).
const stateLockWait = 10 * time.Second

// OpenState opens the configured state backend (the bbolt file, or
// Secrets that replicas share), for the daemon and for `k3sync
// plan/apply`, which must see the same inventory. A bbolt file another
// process holds is waited for up to lockWait (not at all when 0), then
// fails with [state.ErrLocked].
func OpenState(cfg *config.Config, lockWait time.Duration) (StateStore, error) {
	if cfg.State.Backend != "kubernetes" {
		b, err := state.OpenBolt(cfg.State.Path, lockWait)
		if err != nil {
			return nil, err //nolint:wrapcheck // names the file
		}
		return b, nil
	}
	cs, err := stateClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("state on cluster %s: %w", cfg.State.Cluster, err)
	}
	k, err := state.NewKube(cs, cfg.State.Namespace)
	if err != nil {
		return nil, err //nolint:wrapcheck // says what is missing
	}
	return k, nil
}

// clientFor connects to a logical cluster of cfg, or "in-cluster".
func clientFor(cfg *config.Config, cluster string) (kubernetes.Interface, error) {
	rc, err := restConfigFor(cfg, cluster)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err //nolint:wrapcheck // wrapped by the callers
	}
	return cs, nil
}

// The state client's rates when the configuration sets none
// (config.State.QPS): Argo CD's controller's.
const (
	stateQPS   = 50
	stateBurst = 100
)

// stateClient is the client of the state's Secrets (backend
// kubernetes), with the state's own rates.
func stateClient(cfg *config.Config) (kubernetes.Interface, error) {
	rc, err := restConfigFor(cfg, cfg.State.Cluster)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = cmp.Or(cfg.State.QPS, stateQPS), cmp.Or(cfg.State.Burst, stateBurst)
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err //nolint:wrapcheck // wrapped by the callers
	}
	return cs, nil
}

// restConfigFor is the client configuration of cluster: "in-cluster" or
// one of cfg's clusters, with client-go's rates.
func restConfigFor(cfg *config.Config, cluster string) (*rest.Config, error) {
	if cluster == "in-cluster" {
		return rest.InClusterConfig() //nolint:wrapcheck // wrapped by the callers
	}
	cl, ok := cfg.Clusters[cluster]
	if !ok {
		return nil, fmt.Errorf("cluster %q is not in clusters", cluster)
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: cl.Kubeconfig}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cl.Context}).ClientConfig() //nolint:wrapcheck // wrapped by the callers
}

// ErrDaemonRunning: a k3sync daemon holds the state, the bbolt file or
// the leader Lease; a second writer beside it would overwrite what it
// writes.
var ErrDaemonRunning = errors.New("a k3sync daemon (k3sync serve) holds the state")

// CheckNoLeader fails with [ErrDaemonRunning] while a daemon holds the
// Lease of cfg's reconcile.leaderElection; nil when none is configured,
// the Lease does not exist, was released or has expired. The CLI never
// holds the Lease, so any valid holder is another process.
func CheckNoLeader(ctx context.Context, cfg *config.Config, now time.Time) error {
	le := cfg.Reconcile.LeaderElection
	if le == nil {
		return nil
	}
	cs, err := clientFor(cfg, le.Cluster)
	if err != nil {
		return fmt.Errorf("leader election on cluster %s: %w", le.Cluster, err)
	}
	holder, until, err := leader.Holder(ctx, cs, le.Namespace, leaseName(le), now)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	if holder == "" {
		return nil
	}
	return fmt.Errorf("%w: replica %s holds the Lease %s/%s (valid until %s)", ErrDaemonRunning,
		holder, le.Namespace, leaseName(le), until.UTC().Format(time.RFC3339))
}

// gitSource adapts the Git poller to the reconciler's Source.
type gitSource struct{ p *source.Poller }

func (g gitSource) Fetch(ctx context.Context) (view.Commit, error) {
	rev, err := g.p.Poll(ctx)
	if err != nil {
		return view.Commit{}, err //nolint:wrapcheck // redacted by source
	}
	return view.Commit{Hash: rev.Hash, Subject: rev.Subject, Author: rev.Author, Time: rev.Time}, nil
}

func (g gitSource) FS(hash string) (fs.FS, error) { return g.p.FS(hash) } //nolint:wrapcheck // names the commit

func (g gitSource) Changed(from, to string) ([]string, error) { return g.p.Changed(from, to) } //nolint:wrapcheck // names the commits

func (g gitSource) Damaged() error { return g.p.Damaged() } //nolint:wrapcheck // the read's own error

type noTenants struct{}

func (noTenants) Tenant(string) *model.Tenant { return nil }

// Targets returns the targets the daemon drives, for tests and tools.
func (d *Daemon) Targets() []apply.Target { return d.targets }
