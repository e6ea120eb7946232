// Package kubernetes is k3sync's Kubernetes target: one logical cluster,
// planned and applied with server-side apply.
//
// # Reading
//
// Live state is read in bulk: one paged list per kind, selected by the
// label app.kubernetes.io/managed-by=k3sync (narrowed to the requested
// tenants when the request is), plus the cluster's OpenAPI v3 schema for
// the kinds k3sync manages, fetched once per process. A plan sends no
// per-object request. The lists are of metadata only (protobuf): an
// object whose inventory entry holds its live resourceVersion and the
// object Git desires now is untouched since k3sync applied it and needs
// no diff. Only a kind with an object to diff is listed again, in full.
//
// # Three-way diff
//
// For every object, the merge the apiserver would compute for an apply by
// field manager "k3sync" is computed locally with the apiserver's own
// field manager (k8s.io/apimachinery managedfields, structured-merge-diff
// underneath) and compared with the live object, field by field:
//
//   - desired: the rendered object, applied as k3sync;
//   - last applied: what k3sync applied last (kept in the state store with
//     the inventory) and the fields k3sync's manager owns (managedFields);
//   - live: the listed object.
//
// A changed field whose desired value equals the last applied one was
// changed out of band: drift, attributed to the field manager that owns it
// now. A field someone else owns and Git does not set is left alone; a
// field removed from Git is released (SSA removes it unless another
// manager owns it).
//
// # Ownership
//
// An object is the tenant's when its inventory lists it (below), whatever
// its labels. A desired object that exists but that the inventory does not
// list (made with kubectl, by another tool, labelled for another tenant,
// orphaned earlier, or after a lost state file) is never taken over by
// server-side apply: it is planned blocked with plan.NotOwned, never
// written and never recorded, so it can never be deleted later. When it
// is a namespace, everything of the tenant inside it is blocked too
// (plan.InsideNotOwned): a RoleBinding in someone else's namespace is a
// takeover as well. Objects the labelled read did not find are looked for
// with metadata-only lists: namespaces once, then per kind in the
// namespaces that exist, only for the objects missing; a plan where every
// desired object was found sends none of these. The inventory records
// each object's UID: an object deleted and made again by someone else
// since (another UID) is not k3sync's either: blocked while in Git,
// kept and forgotten once removed from it. A create written ahead to the
// inventory (see Applying) is owned: found live after a crash, it is the
// tenant's.
//
// # Inventory and deletes
//
// The state store keeps, per tenant and cluster, every object k3sync
// applied. Only those are ever deleted, with the live UID as a delete
// precondition; a foreign object carrying the same labels is never
// touched. Namespaces removed from Git are deleted only if
// the last applied definition allowed it; otherwise they are orphaned:
// kept, and forgotten by the inventory, after the credential Secrets
// k3sync delivered in them (internal/credentials) are deleted: the
// namespace stays with its owners, the passwords and keys of what k3sync
// no longer manages do not. A tenant removed from Git (named as removed,
// or missing from a Complete request) desires nothing here.
//
// # Applying
//
// Before creating, an apply saves the inventory with every object it is
// about to create (write-ahead), so that a crash never leaves an object
// k3sync made and forgot; a create the apiserver refused, or never sent,
// leaves no such entry behind. Server-side apply, creates and updates
// level by level in the kinds table order (namespaces first), deletes
// afterwards in reverse, each level with bounded concurrency. An update
// or adoption forces conflicts with other managers (Git wins, as on every
// system); a create forces nothing, and fails when another writer made the
// object between the plan and the apply (a controller that fills new
// namespaces): its fields conflict, or its managed fields name that
// writer, and k3sync then applies nothing to it, which takes back every
// field its create set that the other writer does not hold (its labels
// among them). The object is not k3sync's, and the next plan blocks it.
// An update or adoption names the UID of the object it was planned
// against: the apiserver refuses it (ErrReplaced) when that object was
// deleted, or replaced by another of its name, since the plan.
// Every change has its own result; an unreachable cluster fails its own
// changes only.
//
// # Memory
//
// With a request that renders on demand (render.TenantOnDemand, the
// daemon's), a tenant new on the cluster is planned holding its object
// IDs, its objects rendered for its own comparisons only; a tenant k3sync
// applied before keeps its objects while the plan compares them with what
// was applied (one copy for all its clusters). Either way, planned
// changes do not hold objects (shed): an apply renders a tenant's again
// when its turn comes (restore) and lets go of its plan once it is
// applied. A first sync of a thousand tenants holds the objects of the
// tenants being applied, not all of them.
package kubernetes
