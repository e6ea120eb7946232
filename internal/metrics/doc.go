// Package metrics is k3sync's Prometheus instrumentation: what the daemon
// loop did, how long it took and what it found.
//
// # Metrics
//
//	k3sync_sync_duration_seconds{tenant,result}          histogram of run durations
//	k3sync_sync_runs_total{tenant,trigger,result}        runs recorded
//	k3sync_last_success_timestamp_seconds{tenant}        end of the last synced run
//	k3sync_drift_resources{tenant,system}                drifted resources now
//	k3sync_last_revision_info{revision}                  1 for the newest revision seen
//	k3sync_source_fetch_failures_total                   failed fetches of the platform repo
//	k3sync_changes_applied_total{system,action,result}   changes attempted; result ok or error
//	k3sync_state_write_failures_total                    runs the state store could not record
//	k3sync_source_reclones_total                         corrupt Git clones cloned again
//	k3sync_forge_rate_limited_total                      rate limit answers of the forge ([Forge])
//	k3sync_forge_statuses_dropped_total{reason}          commit statuses never posted: superseded or overflow
//
// Results are those of state.Result (synced, failed, blocked, invalid),
// triggers those of state.Trigger, systems and actions those of plan.
//
// # Cardinality
//
// Tenant is a label: platform repos hold tens to hundreds of tenants, not
// millions, so a series per tenant is cheap and is what alerts want
// ("tenant X has not synced for an hour"). Resource names are never a
// label. RemoveTenant drops a tenant's series once it leaves Git, and
// SetRevision keeps a single k3sync_last_revision_info series.
//
// # Registry
//
// New registers on the Registerer it is given and panics if a name is
// already taken, as promauto does: that is a wiring bug, found at startup.
// NewRegistry returns a registry with the Go runtime and process
// collectors, and Handler serves a registry in the Prometheus exposition
// format.
package metrics
