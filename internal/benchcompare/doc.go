// Package benchcompare measures k3sync's plans against the tools people
// would otherwise run, on the same state in the same run, and prints the
// comparison as a table (`make bench-compare`, docs/performance.md).
//
// # What is compared
//
// The benchmarks are in this package's tests, against real peers:
//
//   - BenchmarkKubernetesNoopPlan: k3sync's Kubernetes plan and
//     `kubectl diff --server-side` (the kubectl built from the same
//     Kubernetes release as the apiserver, bin/k8s-<version>/kubectl) of
//     the same objects of generated tenants (internal/testenv/repogen),
//     against one real kube-apiserver, after k3sync applied them.
//   - BenchmarkKongNoopPlan: k3sync's Kong plan and decK's `deck diff` of
//     the same gateway state in the Kong Admin API emulator
//     (internal/kongemu).
//
// Kafka has no peer tool that plans: its rows are k3sync's own figures
// from BenchmarkPlanNoop1000Tenants in internal/target/kafka (requests,
// round trips and bytes of a no-op plan of 1,000 tenants, on kfake and on
// the real broker).
//
// TestKubectlDiffAgreesWithPlan and TestDeckDiffAgreesWithPlan are the
// smoke tests of the harness in the normal test run: 5 tenants, both tools
// really run and agree with k3sync, before and after a change.
//
// # The table
//
// Parse reads the output of `go test -bench` (any number of packages);
// Table pairs the results as Comparisons says, one row per comparison:
// what is compared, k3sync's figure, the peer's figure, the ratio
// peer/k3sync (how many times k3sync is faster or leaner) and, where the
// issue set one, the target ratio and whether it is met. Write prints the
// rows as a Markdown table. hack/benchcompare is the command around them.
package benchcompare
