// Package state is what k3sync remembers between runs: per tenant and
// target, the inventory of resources it owns and the state it last applied
// to them, the three-way base of every plan.
//
// # Model
//
// An Entry is keyed by tenant and target ("kafka/main", "kubernetes/eu-west",
// "kong/edge"). Its Resources map a resource ID (kind/namespace/name, as
// the target chooses) to the last applied value, as JSON. The keys of
// Resources are the inventory: k3sync deletes only what is in it.
//
// # Crash safety
//
// Targets save the inventory before they create anything (the old
// inventory plus everything about to be created) and again after the
// apply with what actually exists. A crash in between leaves an inventory
// that may name resources that were never created, which costs nothing,
// and never one that forgets a resource k3sync created.
//
// # Backends
//
// Bolt is the embedded default: one bbolt file, every Save one atomic
// transaction. Memory is for tests and dry runs. Kube keeps each tenant's
// entries and journal in two Secrets (gzipped JSON, optimistic
// concurrency on resourceVersion) in k3sync's namespace, so that replicas
// under leader election share the three-way base; a Fence the daemon wires
// to its elector refuses the writes of a replica that lost the Lease
// (ErrNotLeader).
package state
