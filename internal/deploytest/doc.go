// Package deploytest checks what k3sync ships for running on Kubernetes —
// the Dockerfile, the kustomize base and overlay, the Helm chart, their
// RBAC — against the real programs that consume them. It holds tests only.
//
// # What runs
//
// The kustomize trees are rendered by `kubectl kustomize` (kubectl must
// be on PATH; the tests fail, never skip, without it). The Helm chart is
// rendered by a small renderer of Helm's template semantics (text/template,
// the handful of Sprig/Helm functions the chart uses, missing keys as
// empty), so that the module needs no dependency on Helm; a chart that
// uses any other function fails to parse.
//
// Everything rendered is applied with server-side dry-run to a real
// kube-apiserver (internal/testenv/kube), in namespaces labelled for the
// restricted Pod Security Standard, and any warning fails the test. The
// RBAC is proven on a real apiserver too: k3sync running as the
// ServiceAccount of deploy/ applies the example platform repo, and
// dropping any single rule breaks it. Two `k3sync serve` processes built
// from this tree elect one leader, and a SIGKILLed leader is replaced
// within the lease duration without applying twice.
package deploytest
