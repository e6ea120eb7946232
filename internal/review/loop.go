package review

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/source"
)

// Marker identifies k3sync's plan comment on a pull request.
const Marker = "<!-- k3sync:plan -->"

// Refs fetches refs of the platform repo (source.Poller).
type Refs interface {
	FetchRef(ctx context.Context, ref string) (source.Revision, error)
	ForgetRef(ref string) error
}

// Trees reads commits of the platform repo (source.Poller).
type Trees interface {
	FS(hash string) (fs.FS, error)
	Changed(from, to string) ([]string, error)
}

// Source is the platform repo's clone.
type Source interface {
	Refs
	Trees
}

// Engine plans across targets (apply.Engine).
type Engine interface {
	Plan(ctx context.Context, req plan.Request) *plan.Plan
}

// mergeBaser is a forge whose pull request list lacks the merge base
// (forge.GitHub).
type mergeBaser interface {
	MergeBase(ctx context.Context, base, head string) (string, error)
}

// Options tune a Loop.
type Options struct {
	// Branch is the tracked branch (default "main").
	Branch string
	// Interval between listings (default 1m).
	Interval time.Duration
	// DashboardURL is the dashboard's root, for links; none when empty.
	DashboardURL string
	// Ready, when set, holds passes back until it returns nil: plans
	// against a half-applied first sync would mislead.
	Ready func() error
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Loader is what the loader needs from the configuration (k3sync's
	// own namespaces, which no tenant may claim).
	Loader loader.Options
	// Metrics counts rate limits and dropped statuses; none when nil.
	Metrics Metrics
	// Holding returns the tenants whose inventory, on any target, holds a
	// resource whose ID mentions one of names ('.' and '_' alike, as
	// Kafka's topic names collide): those the ownership check plans on the
	// tracked branch. When nil, or when it fails, it plans every tenant.
	Holding func(ctx context.Context, names []string) ([]string, error)
}

// Loop plans open pull requests and reports on them.
type Loop struct {
	forge  forge.Forge
	src    Source
	engine Engine
	opts   Options
	log    *slog.Logger

	trigger chan struct{}
	// runMu serializes passes.
	runMu sync.Mutex

	mu sync.Mutex
	// prs is what the loop reported last, per pull request number.
	prs map[int]prState
	// base is the tracked branch's head as last loaded.
	base *loadedBase

	// out holds the statuses not posted yet.
	out *outbox
	// holdMu guards holdUntil: when the forge may be called again after a
	// rate limit answer.
	holdMu    sync.Mutex
	holdUntil time.Time
}

// prState is the last report on a pull request.
type prState struct {
	head string
	// base is the tracked branch head the pull request was merged onto.
	base   string
	status forge.Status
	// done: the head's plan was complete; it is not planned again.
	done bool
}

// loadedBase is a tracked branch head and its repo, nil when invalid.
type loadedBase struct {
	hash string
	repo *model.Repo
}

// New returns a loop; Start runs it.
func New(f forge.Forge, src Source, engine Engine, opts Options) *Loop {
	if opts.Branch == "" {
		opts.Branch = source.DefaultBranch
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Loader.Cache == nil {
		// A pull request's merged tree differs from the base in a few
		// tenant folders: only those are evaluated (ADR 0008). The
		// folders of the last loads of a pass (the base and each pull
		// request) are kept.
		opts.Loader.Cache = loader.NewCache(reviewCacheLoads)
	}
	return &Loop{
		forge: f, src: src, engine: engine, opts: opts,
		log:     opts.Logger.With("component", "review"),
		trigger: make(chan struct{}, 1),
		prs:     map[int]prState{},
		out:     newOutbox(),
	}
}

// notReadyWait is how soon a pass held back by Ready is tried again.
const notReadyWait = 2 * time.Second

// reviewCacheLoads is how many recent loads' tenant evaluations the loop's
// loader cache keeps: the base and the pull requests of a pass share most
// of them.
const reviewCacheLoads = 8

// Start runs a pass at once, then every interval and on Trigger, until ctx
// ends. While Ready holds passes back, it tries again every few seconds.
// After a rate limit answer the next pass comes once the forge's wait
// elapsed, and a Trigger before then calls nothing. Statuses that failed
// to post are posted again apart from the passes, as they come due.
func (l *Loop) Start(ctx context.Context) error {
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		l.drain(ctx)
	}()
	defer func() { <-drained }()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-l.trigger:
			timer.Stop()
		}
		wait := l.opts.Interval
		err := l.RunOnce(ctx)
		retryAfter, limited := forge.RetryAfter(err)
		switch {
		case errors.Is(err, errNotReady):
			l.log.DebugContext(ctx, "pull requests wait for the first sync", "error", err)
			wait = min(wait, notReadyWait)
		case limited:
			// The pass stopped at the rate limit: the next one once the
			// forge's wait elapsed (logged when it was answered).
			wait = max(retryAfter, l.held())
		case err != nil && ctx.Err() == nil:
			l.log.WarnContext(ctx, "pull request pass failed", "error", err)
		}
		timer.Reset(wait)
	}
}

// Trigger asks for a pass now; bursts coalesce into one.
func (l *Loop) Trigger() {
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

// PullRequest is a verified pull request webhook: the loop lists again
// now. The event's head is not trusted over the forge's list.
func (l *Loop) PullRequest(_ context.Context, _ int, _, _ string) { l.Trigger() }

// errNotReady: the daemon's first sync has not finished.
var errNotReady = errors.New("waiting for the first sync")

// RunOnce lists the open pull requests and plans those with a new head.
// It returns the first error; the other pull requests are still planned.
func (l *Loop) RunOnce(ctx context.Context) error {
	l.runMu.Lock()
	defer l.runMu.Unlock()
	if l.opts.Ready != nil {
		if err := l.opts.Ready(); err != nil {
			return fmt.Errorf("%w: %w", errNotReady, err)
		}
	}
	if err := l.heldErr(); err != nil {
		return err
	}
	prs, err := l.forge.OpenPullRequests(ctx, l.opts.Branch)
	l.noteLimit(ctx, err)
	if err != nil {
		return err //nolint:wrapcheck // names the forge and repo
	}
	l.forget(prs)
	if len(prs) == 0 {
		return nil
	}
	base, err := l.loadBase(ctx)
	if err != nil {
		return err
	}
	ps := &pass{base: base}
	var todo []forge.PullRequest
	for _, pr := range prs {
		l.mu.Lock()
		st, ok := l.prs[pr.Number]
		l.mu.Unlock()
		switch {
		case !ok || st.head != pr.HeadSHA || !st.done:
			todo = append(todo, pr)
		case st.base != base.hash && l.inputsChanged(ps, st.base):
			// The merge is another tree now, and live state may have moved.
			todo = append(todo, pr)
		case st.base != base.hash:
			st.base = base.hash
			l.mu.Lock()
			l.prs[pr.Number] = st
			l.mu.Unlock()
		}
	}
	slices.SortFunc(todo, func(a, b forge.PullRequest) int { return cmp.Compare(a.Number, b.Number) })
	var errs []error
	for _, pr := range todo {
		if err := ctx.Err(); err != nil {
			return err //nolint:wrapcheck // the caller's context
		}
		err := l.review(ctx, pr, ps)
		if _, limited := forge.RetryAfter(err); limited {
			// The others wait for the next pass: they would only be
			// planned to be held back.
			return errors.Join(append(errs, fmt.Errorf("pull request #%d: %w", pr.Number, err))...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("pull request #%d: %w", pr.Number, err))
		}
	}
	return errors.Join(errs...)
}

// forget drops what the loop keeps for pull requests no longer open.
func (l *Loop) forget(open []forge.PullRequest) {
	l.mu.Lock()
	var gone []int
	for n := range l.prs {
		if !slices.ContainsFunc(open, func(pr forge.PullRequest) bool { return pr.Number == n }) {
			gone = append(gone, n)
			delete(l.prs, n)
		}
	}
	l.mu.Unlock()
	for _, n := range gone {
		if err := l.src.ForgetRef(l.pullRef(n)); err != nil {
			l.log.Warn("forget pull request ref", "pr", n, "error", err)
		}
	}
}

// loadBase fetches the tracked branch and loads its head, once per head.
func (l *Loop) loadBase(ctx context.Context) (*loadedBase, error) {
	rev, err := l.src.FetchRef(ctx, "refs/heads/"+l.opts.Branch)
	if err != nil {
		return nil, err //nolint:wrapcheck // redacted by source
	}
	l.mu.Lock()
	b := l.base
	l.mu.Unlock()
	if b != nil && b.hash == rev.Hash {
		return b, nil
	}
	b = &loadedBase{hash: rev.Hash}
	fsys, err := l.src.FS(rev.Hash)
	if err != nil {
		return nil, err //nolint:wrapcheck // names the commit
	}
	if b.repo, err = loader.LoadWith(ctx, fsys, l.opts.Loader); err != nil {
		// An invalid tracked branch owns nothing new: the ownership check
		// then has no names to compare with.
		l.log.WarnContext(ctx, "tracked branch is invalid: ownership is not checked against it", "branch", l.opts.Branch, "revision", rev.Hash)
		b.repo = nil
	}
	l.mu.Lock()
	l.base = b
	l.mu.Unlock()
	return b, nil
}

// pass is what the pull requests of one RunOnce share.
type pass struct {
	base *loadedBase
	// pending is what is pending on the tracked branch for the tenants
	// planned, made as the ownership checks need it: planned are the
	// tenants planned so far, all says every tenant was.
	pending *plan.Plan
	planned map[string]bool
	all     bool
	// inputsChanged caches inputsChanged by commit.
	inputsChanged map[string]bool
}

// inputsChanged reports whether the tracked branch changed what the loader
// reads (platform.cue, tenants/) since commit from; true when that cannot
// be told.
func (l *Loop) inputsChanged(ps *pass, from string) bool {
	if changed, ok := ps.inputsChanged[from]; ok {
		return changed
	}
	files, err := l.src.Changed(from, ps.base.hash)
	changed := err != nil || slices.ContainsFunc(files, func(f string) bool {
		return f == loader.PlatformFile || strings.HasPrefix(f, loader.TenantsDir+"/")
	})
	if ps.inputsChanged == nil {
		ps.inputsChanged = map[string]bool{}
	}
	ps.inputsChanged[from] = changed
	return changed
}

// pendingPlan plans, against live state, the tenants of the tracked
// branch outside scope that may hold one of names (Options.Holding; every
// tenant without it): what is pending there, whoever the pull requests
// change. A tenant is planned once per pass. Nil when the branch is
// invalid.
//
// A tenant that holds none of the names has no change pending to them
// (one that desires a name the pull request adds fails the merged
// revision's validation instead), so the check needs no other tenant:
// a pull request that touches one tenant plans a few, not 1,000.
func (l *Loop) pendingPlan(ctx context.Context, ps *pass, scope Scope, names []string) *plan.Plan {
	base := ps.base
	if base.repo == nil || ps.all {
		return ps.pending
	}
	if ps.pending == nil {
		ps.pending = &plan.Plan{Revision: base.hash}
		ps.planned = map[string]bool{}
	}
	holders, err := l.holding(ctx, names)
	if err != nil {
		if l.opts.Holding != nil {
			l.log.WarnContext(ctx, "ownership check: cannot tell which tenants hold the names; planning every tenant", "error", err)
		}
		ps.pending, ps.all = l.engine.Plan(ctx, request(base.repo, Scope{All: true}, base.hash)), true
		return ps.pending
	}
	req := plan.Request{Revision: base.hash, Platform: &base.repo.Platform}
	for _, name := range holders {
		if ps.planned[name] || scope.Has(name) {
			continue // the pull request's own tenants are its own
		}
		ps.planned[name] = true
		if t := base.repo.Tenant(name); t != nil {
			req.Tenants = append(req.Tenants, plan.TenantRequest{Desired: render.TenantResources(&base.repo.Platform, t), Model: t})
		} else {
			req.Tenants = append(req.Tenants, plan.RemovedTenant(name))
		}
	}
	if len(req.Tenants) == 0 {
		return ps.pending
	}
	p := l.engine.Plan(ctx, req)
	ps.pending.Changes = append(ps.pending.Changes, p.Changes...)
	ps.pending.Errors = append(ps.pending.Errors, p.Errors...)
	return ps.pending
}

// errNoHolding: the loop cannot tell who holds what (no Options.Holding).
var errNoHolding = errors.New("no inventory to read")

func (l *Loop) holding(ctx context.Context, names []string) ([]string, error) {
	if l.opts.Holding == nil {
		return nil, errNoHolding
	}
	return l.opts.Holding(ctx, names)
}

func (l *Loop) pullRef(n int) string { return l.forge.PullRef(n) }

// Planned returns the head planned last for a pull request and whether
// its plan was complete; "" if none.
func (l *Loop) Planned(number int) (head string, complete bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.prs[number]
	return st.head, st.done
}
