package state

import (
	"context"
	"time"

	"github.com/k3sync/k3sync/internal/plan"
)

// Trigger says why a run happened.
type Trigger string

// Triggers.
const (
	TriggerPoll    Trigger = "poll"
	TriggerWebhook Trigger = "webhook"
	TriggerManual  Trigger = "manual"
	TriggerDrift   Trigger = "drift"
	TriggerStartup Trigger = "startup"
	// TriggerRetry: a retry after a failed apply, with backoff.
	TriggerRetry Trigger = "retry"
	// TriggerWindow: a sync window that blocked the tenant's apply
	// closed (deny) or opened (allow).
	TriggerWindow Trigger = "window"
	// TriggerOperator: an operator's action on a tenant (suspend,
	// resume), recorded in its history; not a sync, so it has no Result.
	TriggerOperator Trigger = "operator"
)

// Result is how a run ended for a tenant.
type Result string

// Results.
const (
	// ResultSynced: every change was made (or there was nothing to do).
	ResultSynced Result = "synced"
	// ResultFailed: some changes failed; the errors say which.
	ResultFailed Result = "failed"
	// ResultBlocked: nothing was applied (sync window, suspend, delete cap).
	ResultBlocked Result = "blocked"
	// ResultInvalid: the revision did not validate; nothing was applied.
	ResultInvalid Result = "invalid"
)

// Run is one sync of one tenant: what triggered it, what it changed and
// how it ended.
type Run struct {
	ID       string    `json:"id"`
	Tenant   string    `json:"tenant"`
	Revision string    `json:"revision"`
	Trigger  Trigger   `json:"trigger"`
	Who      string    `json:"who,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Result is how the sync ended; none for an operator's action
	// (TriggerOperator), which syncs nothing.
	Result Result `json:"result,omitempty"`
	// Message explains a blocked or invalid run, or says what an
	// operator did ("suspended by alice").
	Message string `json:"message,omitempty"`
	// Changes made or attempted, each with its error if it failed.
	Changes []plan.Result `json:"changes,omitempty"`
	Summary plan.Summary  `json:"summary"`
}

// Drift is the latest drift report of one tenant.
type Drift struct {
	Tenant    string             `json:"tenant"`
	Revision  string             `json:"revision"`
	CheckedAt time.Time          `json:"checkedAt"`
	Items     []DriftItem        `json:"items"`
	Errors    []plan.TargetError `json:"errors,omitempty"`
}

// DriftItem is one drifted resource.
type DriftItem struct {
	plan.Change
	// FirstSeen is when this resource was first found drifted, kept across
	// checks while it stays drifted.
	FirstSeen time.Time `json:"firstSeen"`
}

// TenantStatus is where a tenant stands.
type TenantStatus struct {
	Tenant string `json:"tenant"`
	// Revision is the last revision applied successfully.
	Revision string    `json:"revision,omitempty"`
	SyncedAt time.Time `json:"syncedAt,omitempty"`
	// LastRun is the latest run, whatever its result; operators' actions
	// are not runs and never replace it.
	LastRun *Run `json:"lastRun,omitempty"`
	// Suspension is the operator's latest suspend or resume of the
	// tenant, nil if none: it wins over policies.suspend in Git.
	Suspension *Suspension `json:"suspension,omitempty"`
}

// Suspension is an operator's suspend or resume of a tenant. It lasts
// (across restarts, and for every replica sharing the state) until the
// next one, and overrides the tenant's policies.suspend in Git both ways:
// a resume lets a tenant that Git suspends apply.
type Suspension struct {
	Tenant    string    `json:"tenant"`
	Suspended bool      `json:"suspended"`
	Who       string    `json:"who,omitempty"`
	At        time.Time `json:"at"`
	// ID is the ID of its history entry, time-ordered as run IDs are.
	ID string `json:"id"`
	// Revision is the revision current when the operator acted, shown in
	// the history entry.
	Revision string `json:"revision,omitempty"`
}

// Entry is the suspension's entry in the tenant's history: a Run with
// TriggerOperator, no Result, no changes, and a message saying who did
// what ("suspended by alice").
func (s Suspension) Entry() Run {
	msg := "resumed"
	if s.Suspended {
		msg = "suspended"
	}
	if s.Who != "" {
		msg += " by " + s.Who
	}
	return Run{ID: s.ID, Tenant: s.Tenant, Revision: s.Revision, Trigger: TriggerOperator, Who: s.Who,
		Started: s.At, Finished: s.At, Message: msg}
}

// Journal records runs, drift, status and operators' suspensions. The
// bbolt, Kubernetes and memory stores implement it next to Store.
type Journal interface {
	// AddRun records a run and updates the tenant's status: a synced run
	// moves the tenant's revision.
	AddRun(ctx context.Context, r Run) error
	// Runs returns the tenant's latest runs, newest first ("" for all
	// tenants), at most limit.
	Runs(ctx context.Context, tenant string, limit int) ([]Run, error)
	// SaveDrift replaces the tenant's drift report.
	SaveDrift(ctx context.Context, d Drift) error
	// Drifts returns every tenant's latest drift report, sorted by tenant.
	Drifts(ctx context.Context) ([]Drift, error)
	// Statuses returns every tenant's status, sorted by tenant.
	Statuses(ctx context.Context) ([]TenantStatus, error)
	// Status returns the tenant's status, the zero one when it has none:
	// one read, where Statuses reads every tenant's.
	Status(ctx context.Context, tenant string) (TenantStatus, error)
	// SetSuspension records an operator's suspend or resume as the
	// tenant's Suspension (in its status) and adds s.Entry() to its
	// history, in one write. The status's revision and last run stay:
	// the action is not a sync.
	SetSuspension(ctx context.Context, s Suspension) error
}

// MaxRunsPerTenant bounds the history kept per tenant.
const MaxRunsPerTenant = 100

// Every backend is a Journal.
var (
	_ Journal = (*Bolt)(nil)
	_ Journal = (*Kube)(nil)
	_ Journal = (*Memory)(nil)
)
