package reconcile

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/k3sync/k3sync/internal/state"
)

// Retry backoff bounds for tenants whose apply failed. Blocked and invalid
// outcomes are not retried: they wait for Git or an operator, or for the
// end of the sync window that blocked them (armWindow).
const (
	retryMin = 15 * time.Second
	retryMax = 10 * time.Minute
)

// retryDelay is the wait before the n-th retry (from 1): exponential from
// retryMin, capped at retryMax, with ±20% jitter so that failed tenants do
// not retry in lockstep.
func retryDelay(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < retryMax; i++ {
		d *= 2
	}
	d = min(d, retryMax)
	jitter := time.Duration(float64(d) * 0.2 * (2*rand.Float64() - 1)) //nolint:gosec // jitter, not security
	return d + jitter
}

// scheduleRetries arms a retry for every tenant whose run failed and
// forgets the attempts of tenants that synced.
func (r *Reconciler) scheduleRetries(runs []state.Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attempts == nil {
		r.attempts = map[string]int{}
	}
	var failed []string
	for _, run := range runs {
		switch run.Result {
		case state.ResultFailed:
			r.attempts[run.Tenant]++
			failed = append(failed, run.Tenant)
		case state.ResultSynced:
			delete(r.attempts, run.Tenant)
		case state.ResultBlocked, state.ResultInvalid:
			// Not retried: they wait for Git or an operator (or a sync
			// window's end, armed when it blocked them).
		}
	}
	for _, tenant := range failed {
		delay := retryDelay(r.opts.RetryMin, r.attempts[tenant])
		r.log.Info("sync failed, retrying", "tenant", tenant, "attempt", r.attempts[tenant], "in", delay.Round(time.Second))
		r.armRetry(tenant, delay)
	}
}

// armRetry queues a retry of tenant after delay. When the work queue is
// full then, the retry is armed again after RetryMin, as long as the
// tenant still waits for one: a retry is never dropped, and the queue
// drains at the worker's pace.
func (r *Reconciler) armRetry(tenant string, delay time.Duration) {
	time.AfterFunc(delay, func() {
		select {
		case r.work <- job{kind: jobRetry, tenants: []string{tenant}}:
		default:
			r.mu.Lock()
			waiting := r.attempts[tenant] > 0
			r.mu.Unlock()
			if waiting {
				r.log.Warn("work queue full, retry postponed", "tenant", tenant, "in", r.opts.RetryMin)
				r.armRetry(tenant, r.opts.RetryMin)
			}
		}
	})
}

// retry syncs tenants whose apply failed, unless a later run fixed them.
func (r *Reconciler) retry(ctx context.Context, tenants []string) {
	r.resync(ctx, tenants, state.TriggerRetry, func(t string) bool { return r.attempts[t] > 0 })
}

// resync syncs, with trigger, those of tenants the current revision still
// has and that due (called with r.mu held) says are due.
func (r *Reconciler) resync(ctx context.Context, tenants []string, trigger state.Trigger, due func(tenant string) bool) {
	r.mu.Lock()
	cur := r.snap.current
	var todo []string
	for _, t := range tenants {
		if cur != nil && cur.repo.Tenant(t) != nil && due(t) {
			todo = append(todo, t)
		}
	}
	r.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	slices.Sort(todo)
	runs := r.syncTenants(ctx, cur, todo, false, trigger, operator{})
	if r.opts.OnApplied != nil {
		r.opts.OnApplied(ctx, cur.commit.Hash, runs)
	}
}

// armWindow queues a sync of tenant for when its sync windows stop
// blocking its apply (at, zero for never), replacing the one armed
// before: nothing else brings back a tenant a window blocked, neither a
// push nor a failure to retry.
func (r *Reconciler) armWindow(tenant string, at time.Time) {
	if at.IsZero() {
		return
	}
	delay := max(at.Sub(r.opts.Now()), 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.windows == nil {
		r.windows = map[string]*time.Timer{}
	}
	if t := r.windows[tenant]; t != nil {
		t.Stop()
	}
	r.windows[tenant] = time.AfterFunc(delay, func() {
		select {
		case r.work <- job{kind: jobWindow, tenants: []string{tenant}}:
		default:
			r.log.Warn("work queue full, sync after the sync window postponed", "tenant", tenant, "in", r.opts.RetryMin)
			r.armWindow(tenant, r.opts.Now().Add(r.opts.RetryMin))
		}
	})
}

// windowOpened syncs tenants a sync window blocked, now that it may not.
// One that another window still blocks (overlapping windows, allow
// windows still closed) is not planned: it waits for that window.
func (r *Reconciler) windowOpened(ctx context.Context, tenants []string) {
	r.mu.Lock()
	cur := r.snap.current
	r.mu.Unlock()
	if cur == nil {
		return
	}
	now := r.opts.Now().UTC()
	var open []string
	for _, name := range tenants {
		if t := cur.repo.Tenant(name); t != nil {
			if why, until := windowBlocks(t, now, false); why != "" {
				r.armWindow(name, until)
				continue
			}
			open = append(open, name)
		}
	}
	r.resync(ctx, open, state.TriggerWindow, func(string) bool { return true })
}
