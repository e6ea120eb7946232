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
	Result   Result    `json:"result"`
	// Message explains a blocked or invalid run.
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
	// LastRun is the latest run, whatever its result.
	LastRun *Run `json:"lastRun,omitempty"`
}

// Journal records runs, drift and status. The bbolt and memory stores
// implement it next to Store.
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
}

// MaxRunsPerTenant bounds the history kept per tenant.
const MaxRunsPerTenant = 100
