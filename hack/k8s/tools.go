//go:build tools

// Package tools pins the Kubernetes test binaries built by k8s.mk
// (kube-apiserver, kube-controller-manager and etcd) as dependencies of this
// module, so that go.mod and go.sum record exactly what gets built. It is
// never compiled: k8s.mk runs `go build` on the main packages below.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
