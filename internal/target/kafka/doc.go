// Package kafka is the Kafka target: it plans and applies the tenants'
// topics, ACLs, client quotas and SCRAM users on one Kafka cluster.
//
// # Three-way plans
//
// Kafka keeps no record of who set what, so the state store does: for each
// tenant, the inventory of what k3sync owns on the cluster (topic/<name>,
// acl/<binding>, quota/<user>, user/<name>) and the value k3sync last
// applied to each. A plan pairs, by key, the desired state from Git, that
// last applied state and the live state, and tells apart:
//
//	missing           desired, not live                  create
//	changed in Git    live = last applied ≠ desired      update
//	drift             live ≠ last applied                update, Drift on those fields
//	removed from Git  owned, not desired                 delete, or orphan when protected
//	foreign           live, never owned, not desired     never looked at, never touched
//	not owned         desired, live, not owned           blocked (plan.NotOwned)
//	moved             owned, desired by another tenant   blocked here and there
//
// # Ownership
//
// k3sync never takes over what its inventory does not say the tenant owns
// (plan.NotOwned): a desired resource that exists live and is not in the
// tenant's inventory is blocked, never written and never recorded, so it
// can never be deleted later. Per kind:
//
//	topic   exists → not created, altered, grown or configured
//	user    has SCRAM credentials → no new credential (that would take
//	        over someone's login); its ACL bindings and quota are
//	        blocked with it (plan.InsideNotOwned): they would grant that
//	        login the tenant's rights
//	quota   the user entity has quota keys → none set or removed
//	acl     an identical binding exists → blocked as well: creating it
//	        would be a no-op on Kafka, but recording it would let k3sync
//	        delete someone else's binding once Git drops it; the binding
//	        keeps working for whoever made it
//
// A resource Git moves from one tenant to another is not handed over:
// the claim is blocked (the claiming tenant does not own it) and the
// owning tenant keeps it unchanged in its inventory, blocked with a note,
// until the claim is dropped. A create whose outcome an apply could not
// learn is owned (pending, below): found live later, it is the tenant's.
//
// A tenant wants nothing on this cluster when it has no Kafka or is on
// another cluster; what it owned here was then removed from Git. A tenant
// the request names as removed (plan.RemovedTenant) and, when the request
// is Complete, tenants the inventory knows but Git no longer has were
// removed from Git entirely.
//
// # Topics
//
// Topics are created with their partitions, replication factor and
// configs; partitions grow. Kafka cannot remove partitions and k3sync does
// not reassign replicas: a partition decrease or a replication factor
// change is a blocked change whose notes say how to migrate, and no other
// change is made to that topic meanwhile. A config Git sets is set; a
// config k3sync set that Git dropped is deleted from the topic
// (IncrementalAlterConfigs DELETE), which falls back to the default; a
// config set on the topic by someone else and never by Git is left as it
// is and noted on the topic's change, when it has one.
//
// A topic removed from Git is deleted only when its last applied state
// says it was deletable or the platform allows topic deletion; otherwise
// it is orphaned: its data is kept and it leaves the inventory. Every
// delete of the plan (topics, ACLs, quotas, users) counts against the
// platform's maxDeletesPerPlan: above it, all deletes are blocked unless
// the request allows mass deletion.
//
// # Access
//
// ACL bindings are created and, once Git drops them, deleted with filters
// that match exactly that binding. Quotas are per user entity and per key:
// k3sync sets the keys Git has and removes the keys it set that Git
// dropped. A SCRAM user is created with a password from crypto/rand that
// goes to the CredentialSink before Kafka gets it; it never appears in a
// plan, an error, a log or the state. A user that exists is never given a
// new password except by a mechanism change or Rotate.
//
// # Reads and writes
//
// A plan reads afresh, one request per kind and all in flight at once:
// Metadata and DescribeConfigs for the topics desired or owned,
// DescribeAcls with an ANY filter, DescribeClientQuotas for user entities
// and DescribeUserScramCredentials. Kinds nothing desires or owns are not
// read. So a plan costs one round trip of latency.
//
// An apply sends one request per kind of write and level: topics first
// (CreateTopics, CreatePartitions, IncrementalAlterConfigs), then ACLs,
// quotas and users, then deletes in reverse. Topic mutations go through a
// token bucket of the configured mutations per second. Under the engine,
// which orders each tenant after its namespaces (plan.Gate), the requests
// go in rounds: each round takes every tenant whose turn has come, and
// saves their inventory before the next. SCRAM passwords are delivered
// to the credential sink and salted (PBKDF2) several users at a time;
// the request carries only salted passwords. Every change has
// its own result; a partial failure is an *ApplyError. A no-op apply
// writes nothing, to Kafka or to the state store.
//
// A broker answers a write once the controller committed it, and shows it
// in its answers to reads a moment later (each broker on its own, up to a
// second or more when busy): a topic just created is missing from
// Metadata, a topic just deleted still listed, an ACL, quota or
// credential just set not yet described. So before a round's tenants are
// done, an apply plans them again until the changes it made are gone from
// the plan and what it deleted (a topic, an ACL, a quota, a credential,
// a config Git no longer sets) is no longer described (10 s at most;
// reads only). An apply is thus read-your-writes: the plan after it is empty,
// and a second apply writes nothing. A plan whose Metadata and
// DescribeConfigs disagree on a topic (it was being created or deleted)
// reads again rather than failing.
//
// # Crash safety
//
// Before writing, an apply saves the inventory with everything it is
// about to create, the creates marked pending (pending/<id>);
// after, it saves what actually exists. A create whose outcome is unknown
// (a timeout, a lost connection) stays owned and pending: found live
// later, it is simply owned; found missing, it is created again, and
// that is not drift. franz-go sends a request again on a new connection
// when the first one broke after it was sent, so a CreateTopics whose
// answer was lost is answered TOPIC_ALREADY_EXISTS: a create answered so
// is an unknown outcome too, not a refusal. A create the broker rejected for good leaves the
// inventory; a failed delete stays in it. A dry run uses ValidateOnly
// where Kafka has it, sends nothing where it has not, and saves nothing.
package kafka
