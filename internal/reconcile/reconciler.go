package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// Source is the platform repo.
type Source interface {
	// Fetch brings the branch up to date and returns its head.
	Fetch(ctx context.Context) (view.Commit, error)
	// FS is the tree of a commit.
	FS(hash string) (fs.FS, error)
	// Changed lists the files that differ between two commits.
	Changed(from, to string) ([]string, error)
}

// damageReporter is a Source that tells a revision it could not read,
// its clone's storage damaged, from an invalid one (source.Poller): the
// first read that found the damage since the last clone, nil when none.
type damageReporter interface {
	Damaged() error
}

// Engine plans and applies across targets (apply.Engine).
type Engine interface {
	Plan(ctx context.Context, req plan.Request) *plan.Plan
	Apply(ctx context.Context, req plan.Request, opts plan.ApplyOptions) *apply.Report
}

// Metrics records what the loop does; nil records nothing.
type Metrics interface {
	ObserveRun(r state.Run)
	SetDrift(tenant string, perSystem map[plan.System]int)
	SetRevision(hash string)
	FetchFailed()
	ObserveResults(results []plan.Result)
}

// Options tune a Reconciler.
type Options struct {
	// Interval between polls (default 30s).
	Interval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (default slog.Default()).
	Logger  *slog.Logger
	Metrics Metrics
	// RetryMin is the first retry's delay after a failed apply (default
	// 15s); it doubles per attempt up to 10 minutes.
	RetryMin time.Duration
	// OnApplied is told the runs of every revision applied (and of every
	// retry), for the forge's k3sync/apply commit status.
	OnApplied func(ctx context.Context, revision string, runs []state.Run)
	// Notifier is told of failed and blocked runs, drift first seen,
	// invalid revisions and removed tenants (reconciler_notify.go).
	Notifier Notifier
	// Loader is what the loader needs from the configuration (k3sync's
	// own namespaces, which no tenant may claim).
	Loader loader.Options
}

// Reconciler is the daemon loop.
type Reconciler struct {
	src     Source
	engine  Engine
	journal state.Journal
	opts    Options
	log     *slog.Logger

	work    chan job
	trigger chan struct{}

	mu sync.Mutex
	// snap is what the API reads.
	snap snapshot
	// syncs are triggered syncs by ID.
	syncs map[string]*view.Sync

	cron      *cron.Cron
	cronSpecs map[string]cron.EntryID
	// attempts counts consecutive failed applies per tenant.
	attempts map[string]int
	// windows wake tenants a sync window blocked when it ends.
	windows map[string]*time.Timer
	notes   notifyState

	// unrecorded are the runs, by tenant, the journal could not record
	// yet (reconciler_sync.go).
	unrecorded map[string]unrecorded
}

// snapshot is the state the API shows.
type snapshot struct {
	// current is the last valid revision and its repo.
	current *loaded
	// latest is the newest revision seen, valid or not.
	latest           view.Commit
	validationErrors []string
	sourceError      string
	checkedAt        time.Time
	// plans are the latest plan of each tenant.
	plans map[string]*plan.Plan
	// firstSyncDone turns readiness on.
	firstSyncDone bool
	// appliedAt is when the current revision was applied.
	appliedAt time.Time
}

// loaded is a valid revision.
type loaded struct {
	commit view.Commit
	repo   *model.Repo
}

// job is one unit of work for the worker.
type job struct {
	kind     jobKind
	sync     *view.Sync
	schedule string
	tenants  []string
}

type jobKind int

const (
	jobPoll jobKind = iota
	jobSync
	jobDrift
	jobRetry
	jobWindow
)

// New returns a reconciler; Start runs it.
func New(src Source, engine Engine, journal state.Journal, opts Options) *Reconciler {
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Loader.Cache == nil {
		// Each revision evaluates only the tenant folders it changed
		// (ADR 0008); the last two revisions' folders are kept.
		opts.Loader.Cache = loader.NewCache(2)
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = retryMin
	}
	return &Reconciler{
		src: src, engine: engine, journal: journal, opts: opts, log: opts.Logger,
		work:      make(chan job, 64),
		trigger:   make(chan struct{}, 1),
		syncs:     map[string]*view.Sync{},
		snap:      snapshot{plans: map[string]*plan.Plan{}},
		cronSpecs: map[string]cron.EntryID{},
	}
}

// Start polls, syncs and checks drift until ctx ends. It may run again
// after it returned (a replica that lost leadership and won it back): each
// run has its own cron, and the drift schedules of the revision already
// loaded are registered on it at once, since a poll that finds the same
// revision registers nothing.
func (r *Reconciler) Start(ctx context.Context) error {
	c := cron.New(cron.WithParser(cronParser), cron.WithLocation(time.UTC))
	r.mu.Lock()
	r.cron = c
	clear(r.cronSpecs) // entries of the previous run's cron
	cur := r.snap.current
	r.mu.Unlock()
	if cur != nil {
		r.scheduleDrift(cur.repo)
	}
	c.Start()
	defer c.Stop()

	r.poll(ctx, state.TriggerStartup)
	ticker := time.NewTicker(r.opts.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			r.poll(ctx, state.TriggerPoll)
		case <-r.trigger:
			r.poll(ctx, state.TriggerWebhook)
		case j := <-r.work:
			switch j.kind {
			case jobPoll:
				r.poll(ctx, state.TriggerPoll)
			case jobSync:
				r.runSync(ctx, j.sync)
			case jobDrift:
				r.checkDrift(ctx, j.schedule)
			case jobRetry:
				r.retry(ctx, j.tenants)
			case jobWindow:
				r.windowOpened(ctx, j.tenants)
			}
		}
	}
}

// Poll asks for an early poll; bursts coalesce into one.
func (r *Reconciler) Poll() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Trigger queues a manual sync of every tenant or of one: a tenant in
// Git, or one removed from Git whose offboarding is still pending (shown
// as removed), which the sync plans as removed.
func (r *Reconciler) Trigger(_ context.Context, req view.TriggerRequest) (view.Sync, error) {
	r.mu.Lock()
	if req.Tenant != "" && (r.snap.current == nil ||
		r.snap.current.repo.Tenant(req.Tenant) == nil && !slices.Contains(r.removedLocked(), req.Tenant)) {
		r.mu.Unlock()
		return view.Sync{}, fmt.Errorf("tenant %q: %w", req.Tenant, ErrNotFound)
	}
	s := &view.Sync{ID: newID(r.opts.Now()), Request: req, Phase: view.Queued, Queued: r.opts.Now().UTC()}
	r.syncs[s.ID] = s
	r.forgetSyncsLocked()
	out := *s
	r.mu.Unlock()
	select {
	case r.work <- job{kind: jobSync, sync: s}:
		return out, nil
	default:
		r.mu.Lock()
		delete(r.syncs, s.ID)
		r.mu.Unlock()
		return view.Sync{}, view.ErrBusy
	}
}

// maxSyncs bounds the manual syncs the reconciler remembers: beyond it
// the oldest finished ones are forgotten (their runs stay in the
// history). Queued and running syncs are never forgotten; the work queue
// bounds them.
const maxSyncs = 256

// forgetSyncsLocked forgets the oldest finished syncs beyond maxSyncs.
// r.mu is held.
func (r *Reconciler) forgetSyncsLocked() {
	if len(r.syncs) <= maxSyncs {
		return
	}
	var done []*view.Sync
	for _, s := range r.syncs {
		if s.Phase == view.Done {
			done = append(done, s)
		}
	}
	slices.SortFunc(done, func(a, b *view.Sync) int { return strings.Compare(a.ID, b.ID) }) // IDs are time-ordered
	for _, s := range done[:max(0, min(len(done), len(r.syncs)-maxSyncs))] {
		delete(r.syncs, s.ID)
	}
}

// ErrNotFound is returned for unknown tenants and syncs.
var ErrNotFound = view.ErrNotFound

// Sync returns a triggered sync.
func (r *Reconciler) Sync(_ context.Context, id string) (view.Sync, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.syncs[id]
	if !ok {
		return view.Sync{}, fmt.Errorf("sync %q: %w", id, ErrNotFound)
	}
	return *s, nil
}

// Ready reports nil once the first sync is done.
func (r *Reconciler) Ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.snap.firstSyncDone {
		return errors.New("first sync not finished")
	}
	return nil
}

// newID is a time-ordered unique ID.
func newID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%016x%s", now.UnixNano(), hex.EncodeToString(b[:]))
}

// cronParser parses drift schedules as the loader validated them.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
