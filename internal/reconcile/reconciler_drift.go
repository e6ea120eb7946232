package reconcile

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// scheduleDrift keeps one cron entry per distinct drift schedule of the
// repo's tenants.
func (r *Reconciler) scheduleDrift(repo *model.Repo) {
	want := map[string]bool{}
	for _, t := range repo.Tenants {
		want[t.DriftSchedule(&repo.Platform)] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cron == nil {
		return
	}
	for spec, id := range r.cronSpecs {
		if !want[spec] {
			r.cron.Remove(id)
			delete(r.cronSpecs, spec)
		}
	}
	for spec := range want {
		if _, ok := r.cronSpecs[spec]; ok {
			continue
		}
		id, err := r.cron.AddFunc(spec, func() {
			select {
			case r.work <- job{kind: jobDrift, schedule: spec}:
			default: // a check is still queued; skip this tick
			}
		})
		if err != nil {
			r.log.Error("drift schedule", "schedule", spec, "error", err)
			continue
		}
		r.cronSpecs[spec] = id
	}
}

// CheckDrift runs the drift check of one schedule now; the cron calls it
// through the worker. Tests call it directly.
func (r *Reconciler) CheckDrift(ctx context.Context, schedule string) {
	r.checkDrift(ctx, schedule)
}

// checkDrift plans the tenants on schedule against live state, records the
// drift report and reverts drift where the tenant's policy says so.
func (r *Reconciler) checkDrift(ctx context.Context, schedule string) {
	r.mu.Lock()
	cur := r.snap.current
	r.mu.Unlock()
	if cur == nil {
		return
	}
	var tenants, revert []string
	for _, t := range cur.repo.Tenants {
		if schedule == "" || t.DriftSchedule(&cur.repo.Platform) == schedule {
			tenants = append(tenants, t.Name)
			if t.DriftPolicy(&cur.repo.Platform) == model.DriftRevert {
				revert = append(revert, t.Name)
			}
		}
	}
	if len(tenants) == 0 {
		return
	}
	now := r.opts.Now().UTC()
	p := r.engine.Plan(ctx, request(cur, tenants, false))
	byTenant := splitPlan(cur, p, tenants)
	r.rememberPlans(byTenant, p)
	r.saveDrift(ctx, cur, byTenant, p, now)
	var drifted []string
	for _, name := range revert {
		if slices.ContainsFunc(byTenant[name].Changes, func(c plan.Change) bool { return c.Drift }) {
			drifted = append(drifted, name)
		}
	}
	r.log.InfoContext(ctx, "drift check", "schedule", schedule, "tenants", len(tenants), "reverting", len(drifted))
	if len(drifted) > 0 {
		r.syncTenants(ctx, cur, drifted, false, state.TriggerDrift, operator{})
	}
}

// saveDrift records each tenant's drift report, keeping when each drifted
// resource was first seen. Unchanged reports are not written again.
func (r *Reconciler) saveDrift(ctx context.Context, l *loaded, byTenant map[string]*plan.Plan, p *plan.Plan, now time.Time) {
	prev := map[string]state.Drift{}
	if ds, err := r.journal.Drifts(ctx); err == nil {
		for _, d := range ds {
			prev[d.Tenant] = d
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byTenant)) {
		tp := byTenant[name]
		d := state.Drift{Tenant: name, Revision: l.commit.Hash, CheckedAt: now, Errors: tp.Errors}
		first := map[plan.Key]time.Time{}
		for _, it := range prev[name].Items {
			first[it.Key] = it.FirstSeen
		}
		perSystem := map[plan.System]int{}
		for _, c := range tp.Changes {
			if !c.Drift {
				continue
			}
			seen, ok := first[c.Key]
			if !ok {
				seen = now
			}
			d.Items = append(d.Items, state.DriftItem{Change: c, FirstSeen: seen})
			perSystem[c.System]++
		}
		r.notifyDrift(l, d, first)
		if r.opts.Metrics != nil {
			r.opts.Metrics.SetDrift(name, perSystem)
		}
		old, had := prev[name]
		if had && sameDrift(old, d) || !had && len(d.Items) == 0 {
			continue
		}
		if err := r.journal.SaveDrift(ctx, d); err != nil {
			r.log.ErrorContext(ctx, "save drift report", "tenant", name, "error", err)
		}
	}
}

// sameDrift compares reports on what they say, not when they were made.
func sameDrift(a, b state.Drift) bool {
	if len(a.Items) != len(b.Items) || len(a.Errors) != len(b.Errors) {
		return false
	}
	for i := range a.Items {
		if a.Items[i].Key != b.Items[i].Key || !a.Items[i].FirstSeen.Equal(b.Items[i].FirstSeen) || len(a.Items[i].Fields) != len(b.Items[i].Fields) {
			return false
		}
	}
	return true
}
