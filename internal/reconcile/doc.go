// Package reconcile is the daemon's loop: it follows the platform repo,
// applies what changed, checks for drift on a schedule and takes manual
// sync requests.
//
// # One worker
//
// Everything that plans or applies runs on one goroutine, fed by a queue:
// polls (on an interval, or early when a push webhook arrives), manual
// syncs, and drift checks fired by cron. Two applies never overlap, and a
// manual sync queued behind a poll sees the poll's result. Reads for the
// API (overview, tenant pages, syncs) come from a snapshot under a mutex.
//
// # Revisions
//
// A new commit is loaded from the source's tree and validated. An invalid
// commit is reported with its errors (FILE:LINE:COL) and the last valid
// revision stays applied. A valid one is applied for the tenants whose
// folder changed; a change to anything else (platform.cue) or a removed
// tenant folder applies every tenant.
//
// # Guards
//
// Before applying, each tenant is checked: suspended tenants (in Git or by
// an operator) are planned, never applied; deny sync windows, or allow
// windows that are closed, block the apply; a plan with more deletes than
// the platform allows is refused as a whole unless the sync was triggered
// with the mass-deletion override. Blocked tenants get a run that says why.
//
// # Drift
//
// Each tenant's drift schedule (the platform's, or the tenant's own) is a
// cron entry. At each tick the scheduled tenants are planned against live
// state; drifted changes make the drift report, with the time each was
// first seen kept across checks. Tenants whose drift policy is revert are
// then applied, with the same guards.
//
// # Writes
//
// A poll that finds no new revision plans nothing and writes nothing. A
// run is recorded only when something was applied, blocked or failed, or
// a tenant reaches a new revision.
package reconcile
