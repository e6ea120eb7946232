// Package kong is the Kong target: it plans and applies the tenants'
// services, routes, plugins, consumers (with their key-auth credentials
// and ACL groups), upstreams and targets on one Kong gateway, through its
// Admin API (open-source Kong 3.x, database mode, default workspace).
//
// # Ownership
//
// The inventory decides what is the tenant's: the state store's entry of
// target "kong/<gateway>" for the tenant lists, by kind and name, every
// entity k3sync applied for it (see Diff and drift). Tags are marks:
// every entity k3sync creates carries "k3sync" and
// "k3sync-tenant:<tenant>", so that reads select by them and people see
// whose an entity is, but anyone with the Admin API can add them, so they
// prove nothing. An entity carrying the tenant's tags that its inventory
// does not list (made out of band with those tags, orphaned earlier, or
// the state store was lost) leaves the tenant's slice of the read before
// anything else looks at it, with what hangs off it: it is never changed,
// deleted or recorded, and is no change of the plan. When the tenant
// desires an entity of that name it is blocked at plan time
// (plan.NotOwned, "tagged for this tenant but not in its inventory"), as
// is a desired entity whose unique key (service, route or upstream name,
// consumer username or custom_id) an entity without the tenant's tags
// already holds, someone else's or another tenant's, instead of failing
// later with a 409; so is what hangs off it (plan.InsideNotOwned): the
// routes and plugins of a service, the plugins of a route, the targets
// of an upstream and the services pointing at it, the ACL groups,
// plugins and key of a consumer. They leave the tenant's desired state
// before the diff, so the syncer never sees them, and the tenant's other
// entities are applied, unless the tenant adopts (see Adoption). An
// entity leaves Kong only
// when the tenant's inventory lists it, it carries the tenant's tags, and
// Git no longer has it: removed from the tenant, the tenant moved to
// another gateway, or the tenant removed from Git (named as removed by the
// request, plan.RemovedTenant, or missing from a request that covers
// every tenant, plan.Request.Complete).
//
// Adoption: a tenant whose policies say adopt (model.Tenant.Policies.Adopt,
// carried by plan.TenantRequest.Model) takes such an entity instead of
// being blocked, planned plan.Adopted, when no tenant's inventory on the
// gateway but its own holds it (every tenant's entry of the state target
// is read, not only those of the request) and no k3sync-tenant: tag of it
// names another tenant (with or without the k3sync tag); an entity
// another tenant adopts earlier in the same plan stays blocked too. So an
// entity without k3sync's tags is adopted, and so is one tagged for the
// tenant that its inventory does not list (a lost state store). Services,
// upstreams, consumers (by username; never one that only holds the
// desired custom_id, nor when another consumer holds it) and routes (only
// off a service of the tenant, or one it adopts) are adopted, and so are
// plugins: a plugin on the gateway with a desired plugin's name on the
// same parent (of the tenant's slice, or adopted) or global. The adopted
// entities join the tenant's slice of the gateway, so that the syncer
// sees them as its current state: their update sets k3sync's tags and
// the fields that differ from Git, keeping the entity's ID; the change
// is labelled Adopt and lists those fields (paths as for updates, tags
// aside, no drift: there is no record). An entity that differs in
// nothing but its tags is one Adopt without fields, which writes the tags
// only; one that already matches, tags included, is written not at all,
// only recorded. The apply writes a placeholder ahead of an adoption as
// of a create, and save records it. What hangs off an adopted entity is
// planned as usual: created, or adopted when it exists too. So are ACL
// groups and upstream targets, unique on their parent (a consumer's group,
// an upstream's host:port) rather than by name: one that exists, on a
// consumer or upstream of the tenant's slice (its own or adopted), without
// being the tenant's is adopted as the other kinds are (never one tagged
// for another tenant or in another's inventory), and blocked
// (plan.NotOwned) for a tenant that does not adopt, instead of a create
// Kong refuses with a 409. The syncer updates a target by replacing it
// (delete, then create): an adopted target whose tags alone differ is
// patched by the apply instead, keeping its ID in the upstream's
// balancer; one whose weight differs is replaced, as noted on the
// change. A consumer
// adopted with key-auth keeps its key (see Key-auth credentials). Once
// recorded, an adopted entity is the tenant's like any other: removed
// from Git, it is deleted.
//
// An apply writes ahead: before it creates anything for a tenant (through
// the syncer or a key-auth credential), it saves the tenant's inventory
// with a placeholder record, {}, for every entity it is about to create
// that has no record yet. A placeholder owns the entity, so a crash or a
// create whose answer was lost never leaves an entity k3sync made and
// does not own; it is no proof of an earlier apply (no drift, no base for
// field drift). After the apply the usual save replaces the placeholders
// of the entities made with their documents; a create that failed keeps
// its placeholder, so the next plan owns whatever it may have made, and
// plans it again when nothing was made.
//
// Migration: earlier versions decided ownership by tags, but they already
// recorded every entity they applied in the same inventory, so a
// deployment that upgrades keeps owning exactly what k3sync applied.
// Entities that only carry the tags, never applied by k3sync, stop being
// the tenant's: they are no longer deleted or changed.
//
// # Reading
//
// A plan reads the gateway once for all tenants: GET / for the version,
// then one paged list per kind with ?tags=k3sync (services, routes,
// plugins, consumers, upstreams, acls, key-auths), all in flight at once,
// split by tenant tag in memory, then kept to what each tenant's
// inventory owns (see Ownership). Kong has no top-level list of targets,
// so targets are listed per upstream of the tenants in scope: the number
// of list requests is 7 plus the upstreams, whatever the number of
// tenants. A request narrowed to one tenant selects with both tags.
// Schemas, which go-database-reconciler reads whenever it builds a state,
// are fetched once per plan. Only when some tenant desires an entity its
// own slice lacks does the plan list the unique keys held on the gateway:
// one paged list, without the tag filter, per kind with such an entity
// (services, routes, consumers, upstreams), all in flight at once. A plan
// sends no write. A tenant that adopts and desires a plugin its slice
// lacks adds one list of every plugin, and each consumer it adopts with
// key-auth one list of that consumer's key-auth credentials. A desired ACL
// group or target that the slice lacks, on a consumer or upstream the
// slice has, adds one list of that parent's ACL groups or targets,
// without the tag filter (see Adoption).
//
// # Diff and drift
//
// Each tenant is diffed with go-database-reconciler as decK does: the
// current state is the tenant's slice of the read, the target state is
// its rendered entities as a decK file (file.Content) through file.Get,
// which fills Kong's defaults from the schemas and pairs entities by name;
// the syncer, run in dry-run mode, reports each create, update and delete.
// A tenant with nothing on the gateway (a new tenant, a first sync) is
// not run through the syncer: every entity of its target state is a
// create, which is what the syncer would report, and each plugin's schema
// is read as the syncer would, so an unknown plugin fails the plan.
// An update's fields are the differences between the live and desired
// entity, leaf by leaf (paths, config.minute).
//
// Drift needs a third state, since Kong records neither who changed a
// field nor what k3sync meant. The state store (target "kong/<gateway>")
// keeps, per tenant, the desired document of every entity k3sync last
// applied or found matching. A changed field whose desired value equals
// that record was not changed in Git, so live moved away from it: drift.
// A field whose desired value differs from the record was changed in
// Git. A desired entity that is missing although the record has it was
// deleted out of band: a create marked as drift. Without a record (a lost
// state store) differences are reported as changes in Git, with a note.
// Tags are not used for this: a hash tag would itself show up as a change
// in every decK diff users run.
//
// # The quick check
//
// Before any batch, a plan (not an apply) runs its own check on each
// tenant with something on the gateway: it builds each desired entity as
// file.Get does (the ID and creation time of the live entity of the same
// name, go-database-reconciler's own defaulter, references by ID),
// compares it with that live entity as the syncer's differ does (the
// library's EqualWithOpts; for plugins the differ's own steps: the plugin
// schema's defaults, deprecated fields cleared, then a comparison
// stricter than the differ's), and requires every live entity of the
// tenant's slice to be paired, so that the syncer would delete nothing.
// It only ever concludes that a tenant has nothing to do; one difference,
// an error, or a shape it does not handle (adoptions, gRPC or expression
// routes, IPv6 targets, partials, consumer groups, a name that is another
// entity's ID) sends the tenant on to the batches and the syncer, which
// find the changes. Stricter than the differ only costs a syncer run;
// looser would hide a change, which is what the tests that compare it
// with the syncer on every kind of drift guard against. Within a plan,
// plugin defaults and config comparisons are computed once per distinct
// configuration. The check costs a fraction of the syncer's databases and
// makes a cold plan several times cheaper than decK's diff
// (docs/performance.md).
//
// # Diffing in batches
//
// Each tenant's plan is its own diff: one tenant's error or delete cap
// never touches another's. A plan (not an apply) still diffs the tenants
// it must diff, those with something on the gateway, in batches of 64,
// one go-database-reconciler syncer run per batch, the batches on every
// core: the live state, file.Get's desired state and its defaulter are
// built once per batch instead of once per tenant, which cost more than
// the diff itself. A batch only ever concludes that a tenant has nothing
// to do; a tenant it finds a change for is diffed apart, so that every
// planned change, and every write of an apply, comes from the tenant's
// own diff. A tenant joins a batch only when its entities cannot meet
// another's: no service, route, consumer or upstream name, custom ID or ID
// used by another tenant of the plan (go-database-reconciler looks
// entities up by ID or name; both tenants are then diffed apart), every
// live reference within the tenant's own slice and every desired one
// within its own Git, no global plugin. Each action goes to the tenant of
// its root entity; an error in any tenant's desired state or diff, or an
// action no tenant owns, and the batch's tenants are diffed apart, where
// each error lands on its own tenant.
//
// # Remembering no-op diffs
//
// A diff costs milliseconds of CPU per tenant, nearly all of it in
// go-database-reconciler, and the daemon plans every tenant at each drift
// check. So the Target remembers, in memory, the tenants whose last diff
// found nothing to do, with a sha256 fingerprint of what that diff read:
// the Kong version, the tenant's rendered Kong resources, its slice of the
// live read as the inventory keeps it (every field of every entity, IDs
// and timestamps included, sorted by ID; key-auth keys as their SHA-256
// digest) and the state store's record. A
// tenant whose fingerprint is unchanged is not diffed: it has nothing to
// do. Any change in Git, on the gateway (a PATCH, a delete, a changed
// key) or in the state store changes the fingerprint; entities without
// the tenant's tags are never read, and those with them that the
// inventory does not own leave the slice first: they change nothing. The defaults
// go-database-reconciler fills come from the gateway's schemas: the
// digests of the answers the diffs read are remembered too, each plan
// reads those schemas again (once, as a diff would), and one that answers
// differently empties the memo. A tenant that could not be planned is
// forgotten; a plan that covers every tenant forgets those it did not
// plan. An apply also saves the tenant's record, which a plan does not
// compute: it skips only tenants an earlier apply found with an
// up-to-date record.
//
// A tenant with changes is remembered with them, by the same fingerprint:
// the apply that follows a plan (the daemon plans, checks its guards, then
// applies) takes those changes instead of diffing the same inputs again,
// and its syncer run, which builds the desired state anyway, makes them.
// The apply forgets them.
//
// # Applying
//
// Apply plans afresh and, when the request carries the plan its guards
// checked (plan.Request.Checked), makes a tenant's changes only when its
// fresh plan has the same ones (plan.Request.Stale): otherwise nothing of
// the tenant is written, no key is created or deleted, its state is left
// as it was, and each of its changes fails with plan.ErrStale; the next
// run plans and checks again. It makes the changes with
// go-database-reconciler's syncer, per tenant, after writing ahead (see
// Ownership): creates and updates top-down (consumers; services,
// upstreams, ACL groups; routes, targets; plugins), then deletes
// bottom-up, so routes go before their service and plugins before their
// parent, as Kong requires. The change's Level mirrors that table.
// Writes in flight on the gateway are bounded by the gateway's
// concurrency (default 8) across all tenants. Every change has its own
// result (plan.Finish); when the syncer stops at a failure, the tenant's
// changes it did not reach fail with ErrNotAttempted and the other
// tenants go on. A tenant whose inventory could not be saved is in a
// plan.PartialError, so only that tenant is marked failed. Every delete
// counts against the platform's maxDeletesPerPlan: above it, all deletes
// are blocked unless the request allows mass deletion
// (plan.Request.CapDeletes). A dry run goes through the same syncer in
// dry-run mode, writes nothing ahead and writes nothing.
// After an apply the state store is written only when what k3sync
// applied changed.
//
// # Key-auth credentials
//
// Key-auth credentials never pass through the syncer, so that keys never
// reach its diffs and messages. A consumer's credentials are the tenant's
// when the consumer is and the inventory lists the consumer's credential
// (<consumer>/key-auth). A consumer whose definition asks for key-auth
// and that has no such credential gets a key from crypto/rand (256 bits,
// 43 characters), delivered to the CredentialSink first and then created;
// a failed create leaves the sink a key Kong does not know, replaced by
// the next apply. The credential's record holds the SHA-256 digest of the
// key k3sync created (keySHA256), never the key. A consumer that has a
// credential is not re-keyed, except by Rotate, which creates a new
// credential, delivers its key, records its digest, then deletes the old
// ones (or deletes the new one again when delivery fails), and except
// when its key was changed outside k3sync: when no credential of the
// consumer has the key whose digest is recorded, the plan has a drifted
// update of the credential (a Sensitive field, no key), and applying it
// deletes the changed credentials, then creates one with a new key,
// delivered as above; credentials with the tenant's tags added next to
// the one k3sync created are deleted as drift. A record without a digest
// (written by an earlier version, or a placeholder) checks no key until
// the next Rotate. Credentials of consumers that no longer ask for
// key-auth are deleted. A consumer that is adopted (see Ownership) keeps
// its key-auth credential when it has one: the oldest of those no tag
// marks for another tenant is adopted (plan.Adopt, no field), its key
// keeps working, no key is generated or delivered, the apply sets k3sync's
// tags on it (the key is not sent), and its record holds the digest of
// its key, so that a later change of the key outside k3sync is drift as
// above; the consumer's other credentials are left as they are, noted on
// the change. Only a consumer adopted without one gets a new key. Keys appear in no plan, no state, no log and no
// error: Kong's messages are redacted (RedactedError) before they are
// wrapped.
//
// # Not handled
//
// Workspaces (Enterprise; the default one is used), DB-less gateways
// (refused), entities k3sync does not render (certificates, consumer
// groups, other credentials), and foreign children of k3sync's entities
// (those tagged for the tenant but not in its inventory included): a
// foreign route on a k3sync service makes its delete fail, as Kong
// refuses it; a plugin without the tenant's tags on a k3sync entity makes
// the create of the same plugin fail with a 409, not blocked at plan time
// (one with the tags but not in the inventory is blocked). An entity of the
// tenant that hangs off one whose tags were removed out of band leaves
// the desired state with it and is therefore deleted.
package kong
