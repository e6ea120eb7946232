package kube

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// StartT starts n independent control planes in parallel with the zero
// Options, stops them when the test ends and fails the test if any of them
// does not start. It never skips: missing binaries fail the test with a
// message saying to run 'make kube-bins'.
func StartT(t testing.TB, n int) []*ControlPlane {
	t.Helper()
	return StartTWith(t, n, Options{})
}

// StartTWith is StartT with Options. With n > 1 and a Name, the planes are
// named Name-0, Name-1, ...
func StartTWith(t testing.TB, n int, opts Options) []*ControlPlane {
	t.Helper()
	planes := make([]*ControlPlane, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		o := opts
		if n > 1 && o.Name != "" {
			o.Name = fmt.Sprintf("%s-%d", opts.Name, i)
		}
		wg.Go(func() {
			start := time.Now()
			planes[i], errs[i] = Start(t.Context(), o)
			if errs[i] == nil {
				t.Logf("kube control plane %s (%s) ready in %s", planes[i].Name, planes[i].URL, time.Since(start).Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
	for _, cp := range planes {
		if cp == nil {
			continue
		}
		t.Cleanup(func() {
			if err := cp.Stop(); err != nil {
				t.Errorf("stop kube control plane %s: %v", cp.Name, err)
			}
		})
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("start %d kube control plane(s): %v", n, err)
	}
	return planes
}

// StartFaultProxyT is ControlPlane.StartFaultProxy for tests: it stops the
// proxy when the test ends and fails the test if it cannot start.
func StartFaultProxyT(t testing.TB, cp *ControlPlane) *FaultProxy {
	t.Helper()
	p, err := cp.StartFaultProxy()
	if err != nil {
		t.Fatalf("start fault proxy: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("stop fault proxy: %v", err)
		}
	})
	return p
}

// ClientsetT is a clientset of the control plane's administrator; it
// fails the test if it cannot be built.
func ClientsetT(t testing.TB, cp *ControlPlane) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatalf("clientset of %s: %v", cp.Name, err)
	}
	return cs
}

// NamespaceT creates the namespace name with cs, for a test that needs
// one before k3sync runs (its state, its Lease); it fails the test if it
// cannot.
func NamespaceT(t testing.TB, cs kubernetes.Interface, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// UnreachableKubeconfigT writes a kubeconfig of a cluster nobody serves
// (https://127.0.0.1:1) and returns its path, for tests of what k3sync
// does before, or without, reaching a cluster.
func UnreachableKubeconfigT(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(`apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: gone, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return path
}
