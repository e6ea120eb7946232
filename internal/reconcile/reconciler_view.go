package reconcile

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// Overview returns every tenant's state on every target.
func (r *Reconciler) Overview(ctx context.Context) (view.Overview, error) {
	statuses, err := r.journal.Statuses(ctx)
	if err != nil {
		return view.Overview{}, fmt.Errorf("overview: %w", err)
	}
	drifts, err := r.journal.Drifts(ctx)
	if err != nil {
		return view.Overview{}, fmt.Errorf("overview: %w", err)
	}
	byStatus := map[string]state.TenantStatus{}
	for _, s := range statuses {
		byStatus[s.Tenant] = s
	}
	byDrift := map[string]state.Drift{}
	for _, d := range drifts {
		byDrift[d.Tenant] = d
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o := view.Overview{
		Revision: r.snap.latest, ValidationErrors: r.snap.validationErrors, SourceError: r.snap.sourceError,
		CheckedAt: r.snap.checkedAt, Counts: map[view.State]int{},
	}
	if r.snap.current == nil {
		return o, nil
	}
	for _, t := range r.snap.current.repo.Tenants {
		ts := r.summaryLocked(t.Name, byStatus[t.Name], byDrift[t.Name])
		o.Counts[ts.State]++
		o.Tenants = append(o.Tenants, ts)
	}
	for _, name := range r.removedLocked() {
		ts := r.removedSummaryLocked(name, byStatus[name])
		o.Counts[ts.State]++
		o.Tenants = append(o.Tenants, ts)
	}
	return o, nil
}

// removedLocked returns the tenants removed from Git whose latest plan
// still has changes: what k3sync's inventory owns of them is not all
// deleted or orphaned yet. r.mu is held.
func (r *Reconciler) removedLocked() []string {
	var out []string
	for name, p := range r.snap.plans {
		if r.snap.current.repo.Tenant(name) == nil && (p.HasChanges() || p.Blocked()) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// removedSummaryLocked builds the row of a tenant removed from Git from
// its latest plan; r.mu is held.
func (r *Reconciler) removedSummaryLocked(name string, st state.TenantStatus) view.TenantSummary {
	ts := view.TenantSummary{Name: name, Owners: []string{}, State: view.Removed, SyncedAt: st.SyncedAt, Synced: view.Commit{Hash: st.Revision}}
	p := r.snap.plans[name]
	sum := p.Summary()
	ts.Note = fmt.Sprintf("removed from Git: %d to delete, %d orphaned", sum.Delete, sum.Orphan)
	if sum.Blocked > 0 {
		ts.Note += fmt.Sprintf(", %d blocked", sum.Blocked)
	}
	failed := map[string]string{}
	if st.LastRun != nil && st.LastRun.Result == state.ResultFailed {
		for _, c := range st.LastRun.Changes {
			if c.Error != "" {
				failed[string(c.System)+"/"+c.Target] = c.Error
			}
		}
	}
	for _, c := range p.Changes {
		i := slices.IndexFunc(ts.Systems, func(s view.SystemState) bool { return s.System == c.System && s.Target == c.Target })
		if i < 0 {
			ts.Systems = append(ts.Systems, view.SystemState{System: c.System, Target: c.Target, State: view.Removed})
			i = len(ts.Systems) - 1
		}
		ts.Systems[i].Changes++
		if msg, ok := failed[string(c.System)+"/"+c.Target]; ok {
			ts.Systems[i].State, ts.Systems[i].Error = view.Failed, msg
		}
	}
	return ts
}

// summaryLocked builds a tenant's row; r.mu is held.
func (r *Reconciler) summaryLocked(name string, st state.TenantStatus, drift state.Drift) view.TenantSummary {
	cur := r.snap.current
	t := cur.repo.Tenant(name)
	ts := view.TenantSummary{Name: name, Owners: t.Owners, SyncedAt: st.SyncedAt, Synced: view.Commit{Hash: st.Revision}}
	lastFailed := st.LastRun != nil && st.LastRun.Result != state.ResultSynced && st.LastRun.Revision == cur.commit.Hash
	if p := r.snap.plans[name]; st.Revision == cur.commit.Hash || p != nil && !p.HasChanges() && len(p.Errors) == 0 && !lastFailed {
		// Nothing left to apply at the current revision: synced at it,
		// whether or not it needed a run.
		ts.Synced = cur.commit
		if st.Revision != cur.commit.Hash {
			ts.SyncedAt = r.snap.appliedAt
		}
	}
	suspended := isSuspended(t, st.Suspension)
	ts.Suspended = suspended
	if t.Policies.Mode == model.ModeObserve {
		ts.Note = "observe only (policies.mode: observe): planned and checked for drift, never written"
	}
	p := r.snap.plans[name]
	driftSince := map[string]time.Time{}
	for _, it := range drift.Items {
		k := string(it.System) + "/" + it.Target
		if since, ok := driftSince[k]; !ok || it.FirstSeen.Before(since) {
			driftSince[k] = it.FirstSeen
		}
		if ts.DriftSince.IsZero() || it.FirstSeen.Before(ts.DriftSince) {
			ts.DriftSince = it.FirstSeen
		}
	}
	failed := map[string]string{}
	if st.LastRun != nil && st.LastRun.Result == state.ResultFailed {
		for _, c := range st.LastRun.Changes {
			if c.Error != "" {
				failed[string(c.System)+"/"+c.Target] = c.Error
			}
		}
	}
	if p != nil {
		for _, e := range p.Errors {
			failed[string(e.System)+"/"+e.Target] = e.Message
		}
	}
	desired := render.TenantResources(&cur.repo.Platform, t)
	for _, target := range targetsOf(desired) {
		ss := view.SystemState{System: target.System, Target: target.Name, State: view.Synced}
		k := string(target.System) + "/" + target.Name
		if p == nil && st.LastRun == nil {
			ss.State = view.Unknown
		}
		if p != nil {
			for _, c := range p.Changes {
				if c.System == target.System && c.Target == target.Name {
					ss.Changes++
					if c.Drift {
						ss.State = view.Drifted
					} else if ss.State != view.Drifted {
						ss.State = view.OutOfSync
					}
				}
			}
		}
		ss.DriftSince = driftSince[k]
		if msg, ok := failed[k]; ok {
			ss.State, ss.Error = view.Failed, msg
		}
		if suspended && ss.State != view.Failed {
			ss.State = view.Suspended
		}
		ts.Systems = append(ts.Systems, ss)
	}
	ts.State = worst(ts.Systems, suspended)
	if blocked := st.LastRun; ts.Note == "" && (ts.State == view.OutOfSync || ts.State == view.Drifted) &&
		blocked != nil && blocked.Result == state.ResultBlocked && blocked.Revision == cur.commit.Hash {
		// Why what is out of sync stays so: a sync window, the
		// mass-deletion guard.
		ts.Note = "not applied: " + blocked.Message
	}
	if msg := r.unrecorded[name].msg; msg != "" {
		ts.State, ts.Note = view.Failed, strings.TrimPrefix(ts.Note+"; "+msg, "; ")
	}
	return ts
}

// target names one system target.
type target struct {
	System plan.System
	Name   string
}

func targetsOf(d *render.Tenant) []target {
	var out []target
	for _, cr := range d.Kubernetes {
		out = append(out, target{plan.Kubernetes, cr.Cluster})
	}
	if d.Kafka != nil {
		out = append(out, target{plan.Kafka, d.Kafka.Cluster})
	}
	if d.Kong != nil {
		out = append(out, target{plan.Kong, d.Kong.Gateway})
	}
	return out
}

// stateOrder ranks states, worst first.
var stateOrder = []view.State{view.Failed, view.Drifted, view.OutOfSync, view.Suspended, view.Unknown, view.Synced}

func worst(systems []view.SystemState, suspended bool) view.State {
	best := view.Synced
	if suspended {
		best = view.Suspended
	}
	for _, s := range systems {
		if slices.Index(stateOrder, s.State) < slices.Index(stateOrder, best) {
			best = s.State
		}
	}
	return best
}

// Plans returns each tenant's latest plan by name: those of the current
// revision's tenants and of tenants removed from Git. The plans are
// shared: callers only read them.
func (r *Reconciler) Plans(context.Context) (map[string]*plan.Plan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.snap.plans), nil
}

// Tenant returns one tenant's page: its summary, latest plan, drift
// report and history.
func (r *Reconciler) Tenant(ctx context.Context, name string) (view.Tenant, error) {
	o, err := r.Overview(ctx)
	if err != nil {
		return view.Tenant{}, err
	}
	var out view.Tenant
	if i := slices.IndexFunc(o.Tenants, func(t view.TenantSummary) bool { return t.Name == name }); i >= 0 {
		out = view.Tenant{TenantSummary: o.Tenants[i], Plan: &plan.Plan{}}
	} else {
		// Removed from Git and all gone: its history stays readable.
		r.mu.Lock()
		known := r.snap.current != nil
		r.mu.Unlock()
		if !known {
			return view.Tenant{}, fmt.Errorf("tenant %q: %w", name, ErrNotFound)
		}
		runs, err := r.journal.Runs(ctx, name, 0)
		if err != nil {
			return view.Tenant{}, fmt.Errorf("tenant %s: %w", name, err)
		}
		if len(runs) == 0 {
			return view.Tenant{}, fmt.Errorf("tenant %q: %w", name, ErrNotFound)
		}
		// Its last sync's revision: an operator's suspend or resume in
		// the history is not a sync.
		last := runs[0]
		if i := slices.IndexFunc(runs, func(run state.Run) bool { return run.Trigger != state.TriggerOperator }); i >= 0 {
			last = runs[i]
		}
		out = view.Tenant{TenantSummary: view.TenantSummary{Name: name, Owners: []string{}, State: view.Removed,
			Note: "removed from Git; nothing of it is left in k3sync's inventory", Synced: view.Commit{Hash: last.Revision}}, Plan: &plan.Plan{}}
	}
	r.mu.Lock()
	if p := r.snap.plans[name]; p != nil {
		out.Plan = p
	}
	r.mu.Unlock()
	drifts, err := r.journal.Drifts(ctx)
	if err != nil {
		return view.Tenant{}, fmt.Errorf("tenant %s: %w", name, err)
	}
	for _, d := range drifts {
		if d.Tenant == name {
			out.Drift = d
		}
	}
	if out.History, err = r.journal.Runs(ctx, name, 50); err != nil {
		return view.Tenant{}, fmt.Errorf("tenant %s: %w", name, err)
	}
	return out, nil
}

// Drift returns every tenant's drift report, oldest drift first.
func (r *Reconciler) Drift(ctx context.Context) ([]state.Drift, error) {
	ds, err := r.journal.Drifts(ctx)
	if err != nil {
		return nil, fmt.Errorf("drift: %w", err)
	}
	out := ds[:0]
	for _, d := range ds {
		if len(d.Items) > 0 {
			out = append(out, d)
		}
	}
	slices.SortStableFunc(out, func(a, b state.Drift) int { return oldest(a).Compare(oldest(b)) })
	return out, nil
}

func oldest(d state.Drift) time.Time {
	var t time.Time
	for _, it := range d.Items {
		if t.IsZero() || it.FirstSeen.Before(t) {
			t = it.FirstSeen
		}
	}
	return t
}

// History returns the latest runs of a tenant ("" for all).
func (r *Reconciler) History(ctx context.Context, tenant string, limit int) ([]state.Run, error) {
	runs, err := r.journal.Runs(ctx, tenant, limit)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return runs, nil
}

// Suspend suspends or resumes a tenant: the journal records the
// operator's action, which wins over policies.suspend in Git until the
// next one, across restarts and for every replica sharing the state, and
// shows it in the tenant's history ("suspended by alice"). When the
// journal cannot record it (a replica that lost the Lease, a store
// error), nothing changes and Suspend fails.
func (r *Reconciler) Suspend(ctx context.Context, tenant string, suspend bool, who string) error {
	r.mu.Lock()
	cur := r.snap.current
	r.mu.Unlock()
	if cur == nil || cur.repo.Tenant(tenant) == nil {
		return fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
	}
	now := r.opts.Now().UTC()
	s := state.Suspension{Tenant: tenant, Suspended: suspend, Who: who, At: now, ID: newID(now), Revision: cur.commit.Hash}
	if err := r.journal.SetSuspension(ctx, s); err != nil {
		return fmt.Errorf("tenant %s: %w", tenant, err)
	}
	r.log.InfoContext(ctx, "tenant suspension changed", "tenant", tenant, "suspended", suspend, "who", who)
	return nil
}

// Push is a verified push webhook: poll now if it is the tracked branch.
func (r *Reconciler) Push(_ context.Context, _ string) { r.Poll() }

// Repo is the current valid revision's repo, nil before the first one.
func (r *Reconciler) Repo() *model.Repo {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snap.current == nil {
		return nil
	}
	return r.snap.current.repo
}

// PullRequest is a verified pull request webhook; pull request feedback
// is not wired yet, so the event only makes the next poll early.
func (r *Reconciler) PullRequest(_ context.Context, _ int, _, _ string) { r.Poll() }
