package reconcile

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// poll fetches the repo and applies a new revision.
func (r *Reconciler) poll(ctx context.Context, trigger state.Trigger) {
	commit, err := r.src.Fetch(ctx)
	now := r.opts.Now().UTC()
	if err != nil {
		r.log.ErrorContext(ctx, "fetch failed, keeping the last good revision", "error", err)
		if r.opts.Metrics != nil {
			r.opts.Metrics.FetchFailed()
		}
		r.mu.Lock()
		r.snap.sourceError = err.Error()
		r.snap.checkedAt = now
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	r.snap.sourceError = ""
	r.snap.checkedAt = now
	cur := r.snap.current
	seen := r.snap.latest.Hash == commit.Hash
	r.mu.Unlock()
	if seen && cur != nil {
		return // nothing new: plan nothing, write nothing
	}
	r.applyRevision(ctx, commit, cur, trigger)
}

// applyRevision validates commit and applies what changed since cur.
func (r *Reconciler) applyRevision(ctx context.Context, commit view.Commit, cur *loaded, trigger state.Trigger) {
	log := r.log.With("revision", short(commit.Hash))
	r.mu.Lock()
	prev := r.snap.latest
	r.snap.latest = commit
	r.mu.Unlock()
	fsys, err := r.src.FS(commit.Hash)
	var repo *model.Repo
	if err == nil {
		repo, err = loader.LoadWith(ctx, fsys, r.opts.Loader)
	}
	if err != nil && r.cloneDamaged(ctx, commit, prev) {
		return
	}
	if err != nil {
		msgs := []string{err.Error()}
		if l, ok := loader.Validation(err); ok {
			msgs = msgs[:0]
			for _, e := range l {
				msgs = append(msgs, e.Error())
			}
		}
		log.ErrorContext(ctx, "revision is invalid, keeping the last valid one", "errors", len(msgs), "first", msgs[0])
		r.notifyInvalid(commit, msgs)
		r.mu.Lock()
		r.snap.validationErrors = msgs
		r.snap.firstSyncDone = true
		r.mu.Unlock()
		return
	}
	next := &loaded{commit: commit, repo: repo}
	tenants, complete := affected(cur, next, r.src)
	r.mu.Lock()
	r.snap.validationErrors = nil
	r.snap.current = next
	r.snap.appliedAt = r.opts.Now().UTC()
	r.mu.Unlock()
	r.scheduleDrift(repo)
	if r.opts.Metrics != nil {
		r.opts.Metrics.SetRevision(commit.Hash)
	}
	var runs []state.Run
	if len(tenants) > 0 {
		runs = r.syncTenants(ctx, next, tenants, complete, trigger, operator{})
	}
	if r.opts.OnApplied != nil {
		r.opts.OnApplied(ctx, commit.Hash, runs)
	}
	log.InfoContext(ctx, "revision applied", "trigger", trigger, "tenants", len(tenants), "runs", len(runs))
	r.mu.Lock()
	r.snap.firstSyncDone = true
	r.mu.Unlock()
}

// affected returns the tenants a new revision concerns: those whose folder
// changed, or all (complete) when platform.cue changed, a tenant folder
// disappeared or nothing was applied before. Files the loader does not
// read (READMEs, CI files) concern no tenant.
func affected(cur, next *loaded, src Source) ([]string, bool) {
	all := make([]string, 0, len(next.repo.Tenants))
	for _, t := range next.repo.Tenants {
		all = append(all, t.Name)
	}
	if cur == nil {
		return all, true
	}
	files, err := src.Changed(cur.commit.Hash, next.commit.Hash)
	if err != nil {
		return all, true
	}
	var out []string
	for _, f := range files {
		if f == loader.PlatformFile {
			return all, true
		}
		rest, ok := strings.CutPrefix(f, loader.TenantsDir+"/")
		if !ok {
			continue // not an input of the loader
		}
		name, _, inFolder := strings.Cut(rest, "/")
		if !inFolder {
			continue // tenants/x.cue is reported by validation, not loaded
		}
		if next.repo.Tenant(name) == nil {
			return all, true // removed tenant: prune what it owned
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.Compact(out), false
}

// PollOnce fetches and applies a new revision now, on the caller's
// goroutine: for tests and tools, never while Start runs.
func (r *Reconciler) PollOnce(ctx context.Context) { r.poll(ctx, state.TriggerPoll) }

// runSync runs a manual sync.
func (r *Reconciler) runSync(ctx context.Context, s *view.Sync) {
	r.mu.Lock()
	s.Phase = view.Running
	cur := r.snap.current
	r.mu.Unlock()
	// A manual sync first picks up what Git has now.
	r.poll(ctx, state.TriggerManual)
	r.mu.Lock()
	if r.snap.current != nil {
		cur = r.snap.current
	}
	r.mu.Unlock()
	var runs []state.Run
	if cur == nil {
		r.mu.Lock()
		s.Phase, s.Error = view.Done, "no valid revision to sync"
		r.mu.Unlock()
		return
	}
	tenants := []string{s.Request.Tenant}
	complete := false
	if s.Request.Tenant == "" {
		tenants, complete = nil, true
		for _, t := range cur.repo.Tenants {
			tenants = append(tenants, t.Name)
		}
	}
	runs = r.syncTenants(ctx, cur, tenants, complete, state.TriggerManual, operator{who: s.Request.Who, allowMass: s.Request.AllowMassDeletion, asked: true})
	r.mu.Lock()
	s.Phase, s.Runs = view.Done, runs
	r.mu.Unlock()
}

// request builds the plan request for tenants of a revision. A tenant
// the revision does not have was removed from Git: the request names it
// as removed, so that what it owns goes even when the request is not
// complete (an apply of some tenants, a retry). Kubernetes objects are
// rendered when a cluster's target plans or applies the tenant and let go
// when its clusters are done (render.TenantOnDemand): the request does
// not hold a thousand tenants' objects from its first target to its last.
// The revision's model is never changed once loaded.
func request(l *loaded, tenants []string, complete bool) plan.Request {
	req := plan.Request{Revision: l.commit.Hash, Platform: &l.repo.Platform, Complete: complete}
	req.Tenants = make([]plan.TenantRequest, 0, len(tenants))
	for _, name := range tenants {
		t := l.repo.Tenant(name)
		if t == nil {
			req.Tenants = append(req.Tenants, plan.RemovedTenant(name))
			continue
		}
		req.Tenants = append(req.Tenants, plan.TenantRequest{Desired: render.TenantOnDemand(&l.repo.Platform, t), Model: t})
	}
	return req
}

// withRemoved adds to tenants those the plan has changes for that the
// revision does not have: a complete request plans what the targets'
// inventories hold of tenants removed from Git, and they are planned,
// guarded, applied and recorded like the others.
func withRemoved(l *loaded, tenants []string, p *plan.Plan) []string {
	removed := map[string]bool{}
	prev := ""
	for _, c := range p.Changes {
		if c.Tenant == prev {
			continue // changes come tenant by tenant
		}
		prev = c.Tenant
		if l.repo.Tenant(c.Tenant) == nil {
			removed[c.Tenant] = true
		}
	}
	if len(removed) == 0 {
		return tenants
	}
	for _, name := range tenants {
		delete(removed, name) // already asked for (a retry)
	}
	return append(slices.Clip(tenants), slices.Sorted(maps.Keys(removed))...)
}

// operator is what an operator's manual sync adds to a sync: who asked,
// whether they lifted the mass-deletion guard, and that they asked for
// these tenants (asked: sync windows that allow manual syncs let them
// through). The zero operator is an automatic sync.
type operator struct {
	who       string
	allowMass bool
	asked     bool
}

// syncTenants plans the tenants, applies those the guards let through and
// records a run for every tenant that changed, was blocked, failed or
// reached a new revision. It returns the runs.
func (r *Reconciler) syncTenants(ctx context.Context, l *loaded, tenants []string, complete bool, trigger state.Trigger, op operator) []state.Run {
	req := request(l, tenants, complete)
	// The targets plan every delete as a delete: the mass-deletion guard
	// below counts them all and decides, once, for the whole plan. (A
	// target's own cap would turn deletes into blocked changes the guard
	// cannot count, and the apply, which must lift it, would make them.)
	req.AllowMassDeletion = true
	started := r.opts.Now().UTC()
	clock := time.Now()
	p := r.engine.Plan(ctx, req)
	planned := time.Since(clock)
	tenants = withRemoved(l, tenants, p)
	byTenant := splitPlan(l, p, tenants)
	r.rememberPlans(byTenant, p)
	r.notifyRemoved(l, byTenant)
	r.saveDrift(ctx, l, byTenant, p, started)
	deletes := 0
	hasDeletes := map[string]bool{}
	for _, c := range p.Changes {
		if c.Action == plan.Delete {
			deletes++
			hasDeletes[c.Tenant] = true
		}
	}

	// Operators' suspensions, as the journal has them now (another
	// replica may have recorded them before this one took the Lease), and
	// the tenants' last runs, which only this loop records.
	suspensions, last, suspensionsErr := r.journalOf(ctx, tenants)
	blocked := map[string]string{}
	// unchecked are tenants not applied because their suspension could not
	// be read: they fail, and are retried.
	unchecked := map[string]string{}
	limit := l.repo.Platform.Policy.Deletion.MaxDeletesPerPlan
	for _, name := range tenants {
		if !byTenant[name].HasChanges() {
			continue
		}
		t := l.repo.Tenant(name)
		switch {
		case t != nil && t.Policies.Mode == model.ModeObserve:
			blocked[name] = observeMessage
		case t != nil && suspensionsErr != nil:
			unchecked[name] = fmt.Sprintf("not applied: cannot tell whether an operator suspended the tenant: %v", suspensionsErr)
		case t != nil && isSuspended(t, suspensions[name]):
			blocked[name] = suspendedMessage(suspensions[name])
		case !op.allowMass && deletes > limit:
			blocked[name] = fmt.Sprintf("mass-deletion guard: the plan deletes %d resources, more than the platform's limit of %d; sync with the override to proceed", deletes, limit)
		case !op.allowMass && hasDeletes[name] && len(p.Errors) > 0:
			// What the failed targets would delete is unknown, so the
			// guard cannot count it: no deletes until every target plans.
			blocked[name] = fmt.Sprintf("mass-deletion guard: %s/%s could not be planned, so the plan's deletes cannot be counted; no deletes until it plans again", p.Errors[0].System, p.Errors[0].Target)
		case t != nil:
			if why, until := windowBlocks(t, r.opts.Now().UTC(), op.asked); why != "" {
				blocked[name] = why
				// The window reopens without a push: apply then.
				r.armWindow(name, until)
			}
		}
	}
	var applyTenants []string
	for _, name := range tenants {
		if byTenant[name].HasChanges() && blocked[name] == "" && unchecked[name] == "" {
			applyTenants = append(applyTenants, name)
		}
	}
	results := map[string][]plan.Result{}
	targetErrs := map[string][]plan.TargetError{}
	clock = time.Now()
	if len(applyTenants) > 0 {
		areq := request(l, applyTenants, complete && len(applyTenants) == len(tenants))
		// Apply what the guards checked: a target makes a tenant's
		// changes only when its fresh plan of them is p's, else none
		// (plan.ErrStale) and the retry plans and checks again. The cap
		// is lifted since the guard above counted every delete of p.
		areq.Checked = p
		areq.AllowMassDeletion = true
		rep := r.engine.Apply(ctx, areq, plan.ApplyOptions{})
		results = resultsByTenant(rep.Results)
		for _, e := range rep.Errors {
			for _, name := range applyTenants {
				if concerns(l, name, e) {
					targetErrs[name] = append(targetErrs[name], e)
				}
			}
		}
		if r.opts.Metrics != nil {
			r.opts.Metrics.ObserveResults(rep.Results)
		}
	}
	applied := time.Since(clock)
	r.log.DebugContext(ctx, "planned and applied", "revision", short(l.commit.Hash), "trigger", trigger,
		"tenants", len(tenants), "changes", len(p.Changes), "applied", len(applyTenants),
		"plan", planned.Round(time.Millisecond), "apply", applied.Round(time.Millisecond))
	finished := r.opts.Now().UTC()
	r.mu.Lock()
	unrecorded := maps.Clone(r.unrecorded)
	r.mu.Unlock()
	var runs []state.Run
	for _, name := range tenants {
		run := state.Run{
			ID: newID(finished), Tenant: name, Revision: l.commit.Hash, Trigger: trigger, Who: op.who,
			Started: started, Finished: finished, Result: state.ResultSynced, Summary: byTenant[name].Summary(),
		}
		switch {
		case blocked[name] != "":
			run.Result, run.Message = state.ResultBlocked, blocked[name]
			run.Changes = asResults(byTenant[name].Changes)
			if l := last[name]; l != nil && l.Result == run.Result && l.Message == run.Message && l.Summary == run.Summary && trigger != state.TriggerManual {
				continue // still blocked the same way: nothing new to record
			}
		case unchecked[name] != "":
			run.Result, run.Message = state.ResultFailed, unchecked[name]
			run.Changes = asResults(byTenant[name].Changes)
		case len(results[name]) > 0 || len(targetErrs[name]) > 0:
			run.Changes = results[name]
			for _, res := range results[name] {
				if res.Err != nil {
					run.Result = state.ResultFailed
				}
			}
			if len(targetErrs[name]) > 0 {
				run.Result = state.ResultFailed
				run.Message = targetErrs[name][0].String()
			}
		case len(byTenant[name].Errors) > 0:
			run.Result, run.Message = state.ResultFailed, byTenant[name].Errors[0].String()
		case trigger != state.TriggerManual && len(unrecorded[name].runs) == 0 && (last[name] == nil || last[name].Result != state.ResultFailed):
			// Nothing to do for this tenant: record nothing. The overview
			// derives that it is synced at this revision. (A tenant whose
			// runs could not be recorded records them and this one; a
			// tenant whose last run failed records that it recovered: the
			// overview, the history and the retries go by the last run.)
			continue
		}
		runs = append(runs, run)
	}
	clock = time.Now()
	r.recordAll(ctx, runs)
	if len(runs) > 0 {
		r.log.DebugContext(ctx, "recorded", "revision", short(l.commit.Hash), "runs", len(runs), "took", time.Since(clock).Round(time.Millisecond))
	}
	for _, run := range runs {
		if r.opts.Metrics != nil {
			r.opts.Metrics.ObserveRun(run)
		}
		r.log.InfoContext(ctx, "sync", "tenant", run.Tenant, "revision", short(l.commit.Hash), "trigger", trigger, "result", run.Result, "changes", len(run.Changes), "message", run.Message)
		r.notifyRun(l, run)
		if run.Result == state.ResultSynced {
			r.clearPlan(run.Tenant)
		}
	}
	r.scheduleRetries(runs)
	return runs
}

// recordConcurrency is how many tenants' runs recordAll records at once.
const recordConcurrency = 16

// recordAll records runs, one per tenant, recordConcurrency tenants at a
// time, and replaces each with what record returns. A first sync records
// a run for every tenant: one after the other, that was a transaction
// and an fsync each in the state file, or a read and a write each of a
// Secret in the cluster, all after the last apply. Together, the file
// commits the runs recorded at once in one transaction (state.Bolt), and
// the cluster writes the tenants' Secrets side by side. A tenant's own
// runs stay in order: record writes them one after the other.
func (r *Reconciler) recordAll(ctx context.Context, runs []state.Run) {
	var g errgroup.Group
	g.SetLimit(recordConcurrency)
	for i := range runs {
		g.Go(func() error {
			runs[i] = r.record(ctx, runs[i])
			return nil
		})
	}
	_ = g.Wait() // record keeps what it could not write, per tenant
}

// stateMetrics counts state writes that failed; *metrics.Metrics is one.
type stateMetrics interface {
	StateWriteFailed()
}

// maxUnrecorded bounds the runs kept, per tenant, for a journal that
// refuses writes; past it the oldest go.
const maxUnrecorded = 16

// unrecorded are a tenant's runs the journal could not record, oldest
// first, and why.
type unrecorded struct {
	runs []state.Run
	msg  string
}

// record adds run to the journal, after the tenant's runs it could not
// record before, and returns it. When the journal refuses, the run is
// kept to be recorded with the next one and returned failed: whatever it
// applied, the state does not say so yet. The tenant then shows failed,
// saying why, until its runs are recorded, and the retry schedule tries
// again (a retry that finds nothing to apply records them).
func (r *Reconciler) record(ctx context.Context, run state.Run) state.Run {
	r.mu.Lock()
	pending := slices.Clone(r.unrecorded[run.Tenant].runs)
	r.mu.Unlock()
	var err error
	for len(pending) > 0 && err == nil {
		if err = r.journal.AddRun(ctx, pending[0]); err == nil {
			pending = pending[1:]
		}
	}
	if err == nil {
		err = r.journal.AddRun(ctx, run)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.unrecorded, run.Tenant)
		return run
	}
	r.log.ErrorContext(ctx, "record run: the state could not be recorded", "tenant", run.Tenant, "result", run.Result, "unrecorded", len(pending)+1, "error", err)
	if m, ok := r.opts.Metrics.(stateMetrics); ok {
		m.StateWriteFailed()
	}
	pending = append(pending, run)
	pending = pending[max(0, len(pending)-maxUnrecorded):]
	msg := fmt.Sprintf("the state could not be recorded: %v", err)
	if r.unrecorded == nil {
		r.unrecorded = map[string]unrecorded{}
	}
	r.unrecorded[run.Tenant] = unrecorded{runs: pending, msg: msg}
	if run.Message != "" {
		msg += "; " + run.Message
	}
	run.Result, run.Message = state.ResultFailed, msg
	return run
}

// resultsByTenant cuts an apply's results into each tenant's, in the
// apply's order, sharing them as splitPlan shares a plan's changes: a
// first sync of a thousand tenants holds its results once.
func resultsByTenant(rs []plan.Result) map[string][]plan.Result {
	byTenant := func(a, b plan.Result) int { return cmp.Compare(a.Tenant, b.Tenant) }
	if !slices.IsSortedFunc(rs, byTenant) {
		rs = slices.Clone(rs)
		slices.SortStableFunc(rs, byTenant)
	}
	return tenantRuns(rs, func(r plan.Result) string { return r.Tenant })
}

// tenantRuns cuts xs, whose items of one tenant are next to each other,
// into each tenant's run. The runs share xs's array, each capped at its
// end: appending to one never writes into another's.
func tenantRuns[T any](xs []T, tenant func(T) string) map[string][]T {
	out := map[string][]T{}
	for i := 0; i < len(xs); {
		j := i + 1
		for j < len(xs) && tenant(xs[j]) == tenant(xs[i]) {
			j++
		}
		out[tenant(xs[i])] = xs[i:j:j]
		i = j
	}
	return out
}

func asResults(changes []plan.Change) []plan.Result {
	out := make([]plan.Result, len(changes))
	for i, c := range changes {
		out[i] = plan.Result{Change: c}
	}
	return out
}

// splitPlan cuts a plan into one plan per tenant. The tenants' plans
// share the plan's changes (sorted tenant first), each capped to its own:
// a first sync of a thousand tenants holds its changes once.
// Each carries the target errors that concern its tenant.
func splitPlan(l *loaded, p *plan.Plan, tenants []string) map[string]*plan.Plan {
	out := map[string]*plan.Plan{}
	for _, t := range tenants {
		var errs []plan.TargetError
		for _, e := range p.Errors {
			if concerns(l, t, e) {
				errs = append(errs, e)
			}
		}
		out[t] = &plan.Plan{Revision: p.Revision, Errors: errs}
	}
	if !slices.IsSortedFunc(p.Changes, plan.Compare) {
		plan.Sort(p.Changes)
	}
	for tenant, changes := range tenantRuns(p.Changes, func(c plan.Change) string { return c.Tenant }) {
		tp, ok := out[tenant]
		if !ok {
			tp = &plan.Plan{Revision: p.Revision}
			out[tenant] = tp
		}
		tp.Changes = changes
	}
	return out
}

func (r *Reconciler) rememberPlans(byTenant map[string]*plan.Plan, _ *plan.Plan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, p := range byTenant {
		r.snap.plans[t] = p
	}
}

func (r *Reconciler) clearPlan(tenant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.snap.plans[tenant]; p != nil {
		r.snap.plans[tenant] = &plan.Plan{Revision: p.Revision}
	}
}

// cloneDamaged handles a revision that failed to load while the source
// says its clone is damaged: the failure is the disk's, not the
// revision's, so nobody is told the revision is invalid; it shows as a
// source error, and the next poll (which clones again) loads the same
// revision again. It reports whether it handled the failure.
func (r *Reconciler) cloneDamaged(ctx context.Context, commit view.Commit, prev view.Commit) bool {
	dr, ok := r.src.(damageReporter)
	if !ok {
		return false
	}
	derr := dr.Damaged()
	if derr == nil {
		return false
	}
	r.log.ErrorContext(ctx, "revision could not be read: the Git clone is corrupt; the next poll clones again and loads it",
		"revision", short(commit.Hash), "error", derr)
	if r.opts.Metrics != nil {
		r.opts.Metrics.FetchFailed()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snap.sourceError = "revision " + short(commit.Hash) + " could not be read, the Git clone is corrupt (cloned again at the next poll): " + derr.Error()
	if r.snap.latest.Hash == commit.Hash {
		r.snap.latest = prev // not seen: the next poll loads it
	}
	return true
}

// journalOf reads the tenants' statuses in the journal: their operators'
// suspensions and their latest runs, by tenant.
func (r *Reconciler) journalOf(ctx context.Context, tenants []string) (map[string]*state.Suspension, map[string]*state.Run, error) {
	suspensions, last := map[string]*state.Suspension{}, map[string]*state.Run{}
	st, err := r.statuses(ctx, tenants)
	if err != nil {
		return nil, last, fmt.Errorf("read the journal: %w", err)
	}
	for _, s := range st {
		if s.Suspension != nil {
			suspensions[s.Tenant] = s.Suspension
		}
		last[s.Tenant] = s.LastRun
	}
	return suspensions, last, nil
}

// fewStatuses: up to this many tenants, their statuses are read one by
// one; more, and every tenant's in one read. A sync of one changed
// tenant reads one status, not 1,000.
const fewStatuses = 16

// statuses reads the journal's statuses of tenants (maybe of others too).
func (r *Reconciler) statuses(ctx context.Context, tenants []string) ([]state.TenantStatus, error) {
	if len(tenants) > fewStatuses {
		return r.journal.Statuses(ctx) //nolint:wrapcheck // wrapped by the callers
	}
	out := make([]state.TenantStatus, 0, len(tenants))
	for _, name := range tenants {
		s, err := r.journal.Status(ctx, name)
		if err != nil {
			return nil, err //nolint:wrapcheck // wrapped by the callers
		}
		s.Tenant = name
		out = append(out, s)
	}
	return out, nil
}

// isSuspended says whether t is suspended: the operator's latest suspend
// or resume (s, nil when none) wins over policies.suspend in Git.
// observeMessage is the message of a run of an observe-only tenant.
const observeMessage = "observe-only tenant (policies.mode: observe): planned and checked for drift, never written; " +
	"set policies.mode to manage in Git to let k3sync apply"

func isSuspended(t *model.Tenant, s *state.Suspension) bool {
	if s != nil {
		return s.Suspended
	}
	return t.Policies.Suspend
}

// suspendedMessage is the message of a run blocked by a suspension,
// naming the operator who suspended the tenant (s, nil when Git did).
func suspendedMessage(s *state.Suspension) string {
	if s != nil && s.Who != "" {
		return "tenant is suspended by " + s.Who + ": changes are planned, not applied"
	}
	return "tenant is suspended: changes are planned, not applied"
}

// windowBlocks says why the tenant's sync windows block an apply at now,
// or "", and when they may stop blocking it: the end of the active deny
// window, or the next start of an allow window (zero when none comes).
// Schedules are in UTC, as the drift schedules. A manual sync goes
// through the windows that allow manual syncs, and the reason a window
// gives an automatic sync says so when one would.
func windowBlocks(t *model.Tenant, now time.Time, manual bool) (string, time.Time) {
	why, until := windowRule(t, now, manual)
	if why != "" && !manual {
		if w, _ := windowRule(t, now, true); w == "" {
			why += "; a manual sync goes through"
		}
	}
	return why, until
}

// windowRule is windowBlocks without the hint.
func windowRule(t *model.Tenant, now time.Time, manual bool) (string, time.Time) {
	allows, open := false, false
	var next time.Time
	for _, w := range t.Policies.SyncWindows {
		allows = allows || w.Kind == "allow"
		sched, end, active := windowAt(w, now)
		switch {
		case sched == nil:
		case w.Kind == "deny" && active && (!manual || !w.ManualSync):
			return fmt.Sprintf("deny sync window %q (%s) is active", w.Schedule, w.Duration), end
		case w.Kind == "allow":
			open = open || active || manual && w.ManualSync
			if at := sched.Next(now); !at.IsZero() && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
	}
	if !allows || open {
		return "", time.Time{}
	}
	return "outside every allow sync window", next
}

// windowAt parses a window (a nil schedule when it does not parse) and
// reports whether it is active at now, its latest start less than its
// duration ago, and when that run of it ends.
func windowAt(w model.SyncWindow, now time.Time) (cron.Schedule, time.Time, bool) {
	sched, err := cronParser.Parse(w.Schedule)
	if err != nil {
		return nil, time.Time{}, false
	}
	d, err := time.ParseDuration(w.Duration)
	if err != nil {
		return nil, time.Time{}, false
	}
	start := sched.Next(now.Add(-d))
	if start.IsZero() || start.After(now) {
		return sched, time.Time{}, false
	}
	return sched, start.Add(d), true
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// concerns reports whether the target error e concerns tenant name: the
// error names it, or its definition uses e's target. A tenant removed
// from Git may hold anything in its inventory: every error concerns it.
// A target's failure marks the tenants on it failed, never the others.
func concerns(l *loaded, name string, e plan.TargetError) bool {
	if e.Tenant != "" {
		return e.Tenant == name
	}
	t := l.repo.Tenant(name)
	if t == nil {
		return true
	}
	switch e.System {
	case plan.Kubernetes:
		return t.Kubernetes != nil && slices.Contains(t.Kubernetes.Clusters, e.Target)
	case plan.Kafka:
		return t.Kafka != nil && t.Kafka.Cluster == e.Target
	case plan.Kong:
		return t.Kong != nil && t.Kong.Gateway == e.Target
	}
	return true
}
