// Package plan is the plan model shared by every target: what k3sync would
// change, why, and with what consequences. A plan is data; rendering it as
// text, Markdown or JSON lives in render*.go and is golden-tested.
//
// # Keys
//
// Every resource has a stable Key (tenant, system, target, kind, namespace,
// name). Targets pair desired and live resources by Key before deciding
// any action.
//
// # Actions
//
//	create   desired, missing live
//	update   desired and live differ; Fields says where
//	delete   removed from Git, owned by k3sync (in its inventory) and deletable
//	orphan   removed from Git but protected: k3sync lets go and keeps it
//	blocked  k3sync will not do what Git asks (partition decrease, over the
//	         delete cap, a resource it does not own); Notes explains the
//	         way forward
//
// # Ownership
//
// What k3sync did not make is not k3sync's. A desired resource that
// already exists but is not in the tenant's inventory (Kubernetes, Kafka)
// or lacks the tenant's ownership mark (Kong tags) was made by someone
// else: a person, another tool, another tenant. Taking it over would let
// a tenant's Git rewrite it and, once removed from Git, delete it. Every
// target therefore plans it with NotOwned (blocked, one wording for all),
// never writes it and never records it as owned, so it can never be
// deleted later; what lives in it or hangs off it (the objects of a
// namespace, the routes of a service) is blocked with InsideNotOwned. The
// way forward is to delete it, or to adopt it explicitly once k3sync
// offers adoption.
//
// A change whose fields were changed out of band carries Drift; each field
// says whether it is drift (live differs from what k3sync last applied) or
// a change in Git.
//
// # Order
//
// Changes are sorted by tenant, system (Kubernetes, Kafka, Kong), target,
// then creates and updates by ascending Level and deletes by descending
// Level: each target declares its dependency table as Levels.
//
// # Secrets
//
// A field marked Sensitive is never rendered with its value, in any format.
package plan
