// Package model holds the typed, validated content of a platform repo: the
// platform (clusters, Kafka clusters, gateways, policy) and the tenants.
//
// # Where values come from
//
// The loader decodes CUE values that already unified with the schema in
// schema/, so every default the schema declares is filled in. Defaults that
// depend on the platform (a topic's replication, a tenant's drift policy)
// are resolved by the Effective* methods, never copied into the tenant.
//
// # Positions
//
// Every tenant and the platform remember the file each value came from, so
// that policy checks done in Go report FILE:LINE:COL like CUE's own errors.
package model
