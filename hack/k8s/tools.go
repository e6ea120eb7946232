//go:build tools

// Package tools pins the Kubernetes test binaries built by k8s.mk
// (kube-apiserver, kube-controller-manager, etcd, and kubectl for
// `make bench-compare`) as dependencies of this
// module, so that go.mod and go.sum record exactly what gets built. It is
// never compiled: k8s.mk runs `go build` on the main packages below.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
