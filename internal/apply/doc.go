// Package apply runs plans and applies across every target: Kubernetes
// clusters, Kafka clusters and Kong gateways.
//
// # Targets
//
// A Target is one cluster, Kafka cluster or gateway. The engine knows them
// only through the small interface declared here; the command line and the
// daemon wire concrete targets in.
//
// # Order and isolation
//
// Planning asks every target at once. Applying starts every target at
// once too, but each tenant goes through the systems in dependency order
// (Kubernetes, then Kafka, then Kong: namespaces exist before the secrets
// that carry Kafka and Kong credentials): a target waits on the gate the
// engine gives it (plan.Gate) before its first change of a tenant, until
// every target of the earlier systems is done with that tenant or has
// returned. A tenant removed from Git goes the other way (Kong, Kafka,
// then Kubernetes): its routes and ACLs go before the namespaces holding
// the credentials they admit. Targets start the tenants whose turn has
// come first (plan.ReadyFirst), so that tenants going either way never
// wait on each other for a free slot. Tenants are pipelined: while one
// tenant's namespaces are created, another's topics and a third's routes
// can be. A target that
// fails fails its own changes: the plan records it in Errors, the apply
// in the target's results, and the other targets go on.
package apply
