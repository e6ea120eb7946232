// Package loader reads a platform repo from an fs.FS, checks it against the
// embedded CUE schema and the platform policy, and returns the typed model.
//
// # Layout
//
//	platform.cue             #Platform: clusters, Kafka clusters, gateways, policy
//	tenants/<name>/*.cue     #Tenant: one folder per tenant, name = folder name
//
// Other files are ignored, so a repo may carry docs, CI files or a cue.mod.
// Each tenant folder is evaluated on its own: a tenant's files cannot change
// the platform or another tenant, which is what makes folder ownership
// (CODEOWNERS, PR ownership checks) meaningful.
//
// # Errors
//
// Every problem is reported, not just the first: CUE errors from each file,
// then policy checks done in Go (prefixes, conflicts between tenants,
// capacity, Kafka's own rules). Each error names the repo file, line and
// column, and the CUE path within that file. Load returns a diag.List.
//
// # Guardrails
//
// Tenant folders are untrusted. policy.guardrails in platform.cue bounds
// what a tenant may ask of each system beyond its prefixes (reserved
// namespaces and names, ClusterRoles and groups, label keys, Kafka cluster
// operations, ACL hosts, quota ceilings), with safe defaults. Patterns are
// prepared once per load (kubernetesRules), so each tenant's checks are
// lookups. What only k3sync's configuration knows, its own namespaces,
// comes in Options.
//
// # Bounds
//
// policy.input bounds what is read: every tenant folder is listed (at most
// maxEntriesPerTenant entries) and its .cue files sized before any byte is
// read, and a tenant over a limit gets an error naming the file and is not
// evaluated. What evaluation costs cannot be bounded in process (CUE takes
// no context), so LoadWith with a Sandbox runs the evaluation and the
// policy checks in a child process — the same executable, whose main calls
// ChildMain — killed past evalTimeout or maxEvalMemory; the tenants in
// flight are blamed, each alone if need be (ADR 0006). Load, without a
// sandbox, is for tests and fuzzing.
//
// # Cache
//
// With Options.Cache, a tenant folder is evaluated only when the SHA-256 of
// its exact bytes, platform.cue, the schema, k3sync's version or the
// options changed; otherwise its model and its own diagnostics are taken
// from the cache (kept in the parent when sandboxed). Policy checks, per
// tenant and across tenants, run over every tenant on every load, so a load
// with a cache returns what a load without one returns (ADR 0008).
//
// # Source
//
// The fs.FS is a folder today and a Git tree in the daemon; nothing here
// touches the OS directly.
package loader
