// Package importer writes the CUE definition of a tenant from what a team
// already has on the live systems: its namespaces (quota, limit range,
// labels, annotations, role bindings) on every cluster of the config, its
// Kafka topics, ACLs, client quotas and SCRAM users, and its Kong services,
// routes, plugins, consumers and upstreams. `k3sync import` is its command.
//
// # What is written
//
// The file is tenants/<tenant>/tenant.cue of a platform repo. It sets
// policies: adopt: true, so that the first plan adopts what exists
// instead of blocking on it. Secrets are never read: SCRAM users are
// written with their mechanism only, key-auth consumers as keyAuth: true;
// k3sync adopts the existing credentials. A ResourceQuota or LimitRange
// keeps its name (quota.name, limitRange.name) and is adopted, not
// duplicated; k3sync's deployer binding, with or without k3sync's labels,
// is k3sync's own and no access grant.
//
// # Nothing is dropped silently
//
// Whatever the tenant schema or the platform policy cannot express (a
// RoleBinding to a role outside the allowed set or to a user, a name
// outside the tenant's prefix, a label key the platform refuses, a plugin
// it does not allow, a config a topic may not set) is written as a //
// comment where it would have been, and listed in Result.NotImportable.
//
// # Live values are untrusted
//
// Every string read from a live system is written as a CUE string
// literal (quotes, backslashes, newlines and control characters escaped),
// also inside comments, so that no name or value can end a literal or a
// comment and add CUE of its own.
package importer
