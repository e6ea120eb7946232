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
// Planning asks every target at once. Applying goes system by system in
// dependency order (Kubernetes, then Kafka, then Kong: namespaces exist
// before the secrets that carry Kafka and Kong credentials), targets of
// one system in parallel. A target that fails fails its own changes: the
// plan records it in Errors, the apply in the target's results, and the
// other targets go on.
package apply
