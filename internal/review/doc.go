// Package review plans pull requests against live state and reports the
// plan on the pull request: a commit status "k3sync/plan" on its head and
// one comment that k3sync keeps up to date. It also reports, as the status
// "k3sync/apply", how applying a merged revision went.
//
// # Loop
//
// [Loop.Start] lists the open pull requests into the tracked branch every
// interval, and at once when a pull request webhook arrives
// ([Loop.Trigger]). A pull request is planned when its head is one the
// loop has not planned yet, or when the tracked branch changed
// platform.cue or tenants/ since it was planned (the merge is another tree
// then); a README change re-plans nothing. The loop remembers the head
// per pull request, and forgets closed pull requests and drops their
// fetched refs. A head that could not be planned (the forge or Git
// failed) is tried again at the next pass; so is one whose plan hit an
// unreachable target. A head whose final status could not be posted is
// not: the status is kept and posted later (see below).
//
// # Planning a pull request
//
// The head is fetched as the forge keeps it (refs/pull/<n>/head,
// refs/merge-requests/<n>/head on GitLab). The files it changes are
// listed from the merge base (Gitea's list carries it; GitHub's compare
// API gives it), or from the tracked branch's head when there is none.
// What is planned is the merge: a tree with those files as the head has
// them and every other file as the tracked branch has it now, so a branch
// cut before newer commits on the tracked branch does not plan to undo
// them, and a merge the loader would reject (two tenants claiming one
// namespace) is reported as invalid. An invalid merge gets a failure
// status with the first error and a comment listing every error, each
// linked to its line in the commit the file comes from.
//
// A file under tenants/<t>/ changes tenant t, platform.cue changes every
// tenant; other files change none. Those tenants are planned against live
// state with the engine the daemon applies with, narrowed to them
// (plan.Request with Complete false). When a tenant of the tracked branch
// is no tenant at the head (its folder deleted) the request covers every
// tenant and is Complete, so that the targets plan the removal; changes of
// tenants the pull request does not touch are then left out of the report
// and counted. A folder that is a tenant neither on the tracked branch nor
// at the head (a README.md alone) changes nothing. The comment lists at
// most a few names per list and never exceeds the forge's limit.
//
// # Ownership
//
// A pull request that changes the files of tenant A must not change what
// tenant B owns, unless it changes B's files too (so B's owners review
// it). A violation fails the status and is listed in the comment:
//
//   - a change in the plan that belongs to a tenant whose folder the pull
//     request does not change;
//   - a change to a name (a namespace on a cluster, a topic or user on a
//     Kafka cluster, a Kong service, route, consumer or upstream on a
//     gateway) that another tenant still holds live. In Git the loader
//     already rejects two tenants claiming one name; live, a tenant keeps
//     a name its Git no longer has until its own change (a delete held
//     back by a sync window, a suspension or a failure) is applied. Such
//     changes show in a plan of every tenant of the tracked branch, made
//     once per pass when a pull request's plan touches any name. Merging
//     A's claim would have A apply over B's resource, and B's pending
//     delete remove it afterwards.
//
// # Status
//
//	error    a target could not be planned (unreachable): the plan is
//	         incomplete
//	failure  invalid, blocked changes (a partition decrease, a protected
//	         delete), or an ownership violation
//	success  "N changes: 1 to create, …", or no changes
//
// The status links to the dashboard's tenant page when one tenant is
// planned and a dashboard URL is configured, else to the pull request.
//
// # Comment
//
// The comment is the plan as plan.WriteMarkdown renders it, grouped by
// tenant and by system and target, with drifted changes marked: they
// revert edits made outside Git, not this pull request. Sensitive values
// are redacted by the renderer and nothing else prints field values. When
// the plan does not fit the forge's comment limit, each change keeps its
// headline ("+ create topic payments.refunds") and the fields are left to
// the dashboard, linked per tenant; only when even the headlines do not
// fit are the last ones counted instead of listed.
//
// # Applied revisions
//
// [Loop.Applied] sets "k3sync/apply" on a revision of the tracked branch
// once the daemon applied it: success when every tenant synced, pending
// when some were blocked (a sync window, a suspended tenant), failure
// when a change failed.
//
// # A forge that is down or rate limited
//
// A status ("k3sync/plan" or "k3sync/apply") that fails to post is kept
// and posted again apart from the passes, oldest first, after 1s, 2s, 4s,
// … up to 5 minutes, until it is posted or a newer status of the same
// commit and context replaces it. The queue holds at most 100 statuses;
// over that the oldest is dropped. Both drops are counted
// (k3sync_forge_statuses_dropped_total{reason="superseded"|"overflow"})
// and an overflow is logged. Applied never waits for a retry: it tries
// once and returns.
//
// A rate limit answer ([forge.RateLimitError]) holds every call to the
// forge, passes and statuses alike, until its wait elapsed (at most
// forge.MaxRetryAfter): the pass that met it stops, the next one comes
// when the wait is over rather than after the interval, and a pass asked
// for meanwhile (a webhook) calls and plans nothing. A pull request's
// comment that failed to post is written again by planning the head again
// at the next pass, as before.
package review
