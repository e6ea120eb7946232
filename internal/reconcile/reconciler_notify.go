package reconcile

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/notify"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// Notifier is told what needs a look (notify.Notifier); it must not block.
type Notifier interface {
	Notify(ev notify.Event)
}

// notifyState is what the reconciler remembers to notify each thing
// once: the invalid revision last notified, the removed tenants notified
// and the owners of every tenant seen (a removed tenant's are those of
// its last revision). It lives as long as the process: after a restart,
// a tenant still being offboarded is notified once more.
type notifyState struct {
	mu      sync.Mutex
	invalid string
	removed map[string]bool
	owners  map[string][]string
}

func (r *Reconciler) notify(ev notify.Event) {
	if r.opts.Notifier == nil {
		return
	}
	ev.Time = r.opts.Now().UTC()
	r.opts.Notifier.Notify(ev)
}

// ownersOf returns a tenant's owners: from l, or remembered.
func (r *Reconciler) ownersOf(l *loaded, name string) []string {
	if l != nil {
		if t := l.repo.Tenant(name); t != nil {
			return t.Owners
		}
	}
	r.notes.mu.Lock()
	defer r.notes.mu.Unlock()
	return r.notes.owners[name]
}

// notifyRun tells of a failed or blocked run; synced runs are not news.
func (r *Reconciler) notifyRun(l *loaded, run state.Run) {
	ev := notify.Event{Tenant: run.Tenant, Owners: r.ownersOf(l, run.Tenant), Revision: run.Revision, Trigger: string(run.Trigger), Message: run.Message}
	switch run.Result {
	case state.ResultFailed:
		ev.Type = notify.SyncFailed
		for _, c := range run.Changes {
			msg := c.Error
			if c.Err != nil {
				msg = c.Err.Error()
			}
			if msg == "" {
				continue
			}
			ev.Count++
			if ev.Message == "" {
				ev.Message = c.String() + ": " + msg
			}
		}
	case state.ResultBlocked:
		ev.Type, ev.Count = notify.SyncBlocked, len(run.Changes)
	default:
		return
	}
	r.notify(ev)
}

// notifyInvalid tells of an invalid revision once, however often it is
// polled. When the first error is in a tenant's folder, the event is that
// tenant's, for routes by tenant or owner.
func (r *Reconciler) notifyInvalid(commit view.Commit, msgs []string) {
	r.notes.mu.Lock()
	again := r.notes.invalid == commit.Hash
	r.notes.invalid = commit.Hash
	r.notes.mu.Unlock()
	if again || len(msgs) == 0 {
		return
	}
	ev := notify.Event{Type: notify.RevisionInvalid, Revision: commit.Hash, Message: msgs[0], Count: len(msgs)}
	if rest, ok := strings.CutPrefix(msgs[0], loader.TenantsDir+"/"); ok {
		if name, _, ok := strings.Cut(rest, "/"); ok {
			ev.Tenant, ev.Owners = name, r.ownersOf(nil, name)
		}
	}
	r.notify(ev)
}

// notifyRemoved remembers the owners of l's tenants and tells, once, of
// each tenant removed from Git whose offboarding the plan holds.
func (r *Reconciler) notifyRemoved(l *loaded, byTenant map[string]*plan.Plan) {
	var events []notify.Event
	r.notes.mu.Lock()
	if r.notes.owners == nil {
		r.notes.owners, r.notes.removed = map[string][]string{}, map[string]bool{}
	}
	for _, t := range l.repo.Tenants {
		r.notes.owners[t.Name] = t.Owners
		delete(r.notes.removed, t.Name) // back in Git: a later removal is news again
	}
	for name, p := range byTenant {
		if l.repo.Tenant(name) != nil || r.notes.removed[name] || !p.HasChanges() && !p.Blocked() {
			continue
		}
		r.notes.removed[name] = true
		sum := p.Summary()
		events = append(events, notify.Event{
			Type: notify.TenantRemoved, Tenant: name, Owners: r.notes.owners[name], Revision: l.commit.Hash, Count: len(p.Changes),
			Message: fmt.Sprintf("removed from Git: its offboarding is planned: %d to delete, %d orphaned, %d blocked", sum.Delete, sum.Orphan, sum.Blocked),
		})
	}
	r.notes.mu.Unlock()
	for _, ev := range events {
		r.notify(ev)
	}
}

// notifyDrift tells of the resources of d not drifted before (first
// holds when each resource already drifted was first seen): a drift
// check that finds the same drift again tells nothing.
func (r *Reconciler) notifyDrift(l *loaded, d state.Drift, first map[plan.Key]time.Time) {
	var fresh []string
	for _, it := range d.Items {
		if _, ok := first[it.Key]; !ok {
			fresh = append(fresh, it.Key.String())
		}
	}
	if len(fresh) == 0 {
		return
	}
	// The message names the resources, so that other drift of the same
	// tenant is not taken for this one by the notifier's dedupe.
	msg := "drifted from Git: " + strings.Join(fresh[:min(len(fresh), 5)], ", ")
	if len(fresh) > 5 {
		msg += fmt.Sprintf(" and %d more", len(fresh)-5)
	}
	r.notify(notify.Event{
		Type: notify.DriftDetected, Tenant: d.Tenant, Owners: r.ownersOf(l, d.Tenant), Revision: d.Revision, Count: len(fresh),
		Resources: fresh, Message: msg,
	})
}
