package daemon

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/reconcile"
	"github.com/k3sync/k3sync/internal/review"
	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/source"
	"github.com/k3sync/k3sync/internal/state"
)

// newReview builds the pull request loop; nil when no forge is
// configured. It plans with its own engine over the reconciler's targets
// and waits for the reconciler's first sync before its first pass.
func newReview(cfg *config.Config, src *source.Poller, store state.Store, targets []apply.Target, rec *reconcile.Reconciler, loaderOpts loader.Options, log *slog.Logger, m review.Metrics) (*review.Loop, error) {
	f, err := forge.New(cfg.Forge)
	if err != nil || f == nil {
		return nil, err //nolint:wrapcheck // names the forge setting
	}
	return review.New(f, src, apply.New(targets...), review.Options{
		Branch:       cfg.Git.Branch,
		Interval:     cfg.Forge.IntervalOrDefault(),
		DashboardURL: cfg.Forge.DashboardURL,
		Ready:        rec.Ready,
		Logger:       log,
		Loader:       loaderOpts,
		Metrics:      m,
		Holding:      holding(store, targets),
	}), nil
}

// holding is review.Options.Holding over the state store: the tenants
// whose inventory on one of targets holds a resource whose ID mentions
// one of names, '.' and '_' alike. It decodes no entry on the bbolt
// store (state.ReadInventories).
func holding(store state.Store, targets []apply.Target) func(context.Context, []string) ([]string, error) {
	return func(ctx context.Context, names []string) ([]string, error) {
		var norm []string
		for _, n := range names {
			if n != "" {
				norm = append(norm, strings.ReplaceAll(n, ".", "_"))
			}
		}
		held := map[string]bool{}
		for _, t := range targets {
			inv, err := state.ReadInventories(ctx, store, string(t.System())+"/"+t.Name())
			if err != nil {
				return nil, err //nolint:wrapcheck // names the store
			}
			for id, tenants := range inv.Holders {
				id = strings.ReplaceAll(id, ".", "_")
				if slices.ContainsFunc(norm, func(n string) bool { return strings.Contains(id, n) }) {
					for _, tn := range tenants {
						held[tn] = true
					}
				}
			}
		}
		return slices.Sorted(maps.Keys(held)), nil
	}
}

// run runs the reconciler and, with a forge, the pull request loop, until
// ctx ends. Under leader election both run only on the leader, so that
// replicas do not race on statuses and comments.
func (d *Daemon) run(ctx context.Context) error {
	if d.review == nil {
		return d.Reconciler.Start(ctx) //nolint:wrapcheck // the loop's own errors
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.Reconciler.Start(ctx) })
	g.Go(func() error { return d.review.Start(ctx) })
	return g.Wait() //nolint:wrapcheck // the loops' own errors
}

// Review is the pull request loop, nil when no forge is configured.
func (d *Daemon) Review() *review.Loop { return d.review }

// Hooks receive verified webhooks: pushes make the reconciler poll, pull
// request events reach the reconciler and the pull request loop.
func (d *Daemon) Hooks() server.Hooks { return hooks{d} }

type hooks struct{ d *Daemon }

func (h hooks) Push(ctx context.Context, branch string) { h.d.Reconciler.Push(ctx, branch) }

func (h hooks) PullRequest(ctx context.Context, number int, action, headSHA string) {
	h.d.Reconciler.PullRequest(ctx, number, action, headSHA)
	if h.d.review != nil {
		h.d.review.PullRequest(ctx, number, action, headSHA)
	}
}

// appliedTimeout bounds reporting an applied revision to the forge.
const appliedTimeout = 30 * time.Second

// ReportApplied sets the "k3sync/apply" status of a revision the
// reconciler applied, from the runs it recorded; it does nothing without
// a forge. It returns at once: the forge is called on its own goroutine,
// so a slow forge never holds the apply loop.
func (d *Daemon) ReportApplied(ctx context.Context, revision string, runs []state.Run) {
	if d.review == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appliedTimeout)
		defer cancel()
		if err := d.review.Applied(ctx, revision, runs); err != nil {
			d.log.WarnContext(ctx, "apply status not set", "revision", revision, "error", err)
		}
	}()
}
