package kube_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/k3sync/k3sync/internal/testenv/kube"
)

func clientset(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return cs
}

// eventually polls cond every 100ms for up to timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s (last error: %v)", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTwoPlanesAreIndependent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	planes := kube.StartT(t, 2)
	a, b := planes[0], planes[1]
	if a.URL == b.URL || a.Dir == b.Dir || a.EtcdURL == b.EtcdURL {
		t.Fatalf("planes share an address or directory: %+v / %+v", a, b)
	}

	for _, cp := range planes {
		// The kubeconfig file and RESTConfig must both work.
		cfg, err := clientcmd.BuildConfigFromFlags("", cp.KubeconfigPath())
		if err != nil {
			t.Fatalf("load %s: %v", cp.KubeconfigPath(), err)
		}
		v, err := clientset(t, cfg).Discovery().ServerVersion()
		if err != nil {
			t.Fatalf("%s: server version: %v", cp.URL, err)
		}
		if v.GitVersion != kube.Version {
			t.Errorf("%s: server version = %q, want %q", cp.URL, v.GitVersion, kube.Version)
		}
	}

	csA, csB := clientset(t, a.RESTConfig()), clientset(t, b.RESTConfig())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "only-in-a"}}
	if _, err := csA.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace in A: %v", err)
	}
	if _, err := csA.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("get namespace from A: %v", err)
	}
	_, err := csB.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("get namespace from B: err = %v, want NotFound", err)
	}
}

func TestKubeconfigForIsSubjectToRBAC(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cp := kube.StartT(t, 1)[0]

	kc, err := cp.KubeconfigFor("alice", "k3sync:readers")
	if err != nil {
		t.Fatalf("KubeconfigFor: %v", err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		t.Fatalf("load alice's kubeconfig: %v", err)
	}
	alice := clientset(t, cfg)

	_, err = alice.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list namespaces as alice without RBAC: err = %v, want 403 Forbidden", err)
	}
	if !strings.Contains(err.Error(), `User "alice"`) {
		t.Errorf("403 does not name the user: %v", err)
	}

	// Granting her group read access must lift the 403: the 403 came from
	// RBAC, not from a broken identity.
	admin := clientset(t, cp.RESTConfig())
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "namespace-reader"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""},
			Resources: []string{"namespaces"},
			Verbs:     []string{"get", "list"},
		}},
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ClusterRole: %v", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "readers-read-namespaces"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "k3sync:readers"}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ClusterRoleBinding: %v", err)
	}
	eventually(t, 10*time.Second, "alice can list namespaces", func() (bool, error) {
		_, err := alice.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		return err == nil, err
	})

	// RESTConfigFor is the same identity without the kubeconfig detour.
	bobCfg, err := cp.RESTConfigFor("bob")
	if err != nil {
		t.Fatalf("RESTConfigFor: %v", err)
	}
	_, err = clientset(t, bobCfg).CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list namespaces as bob: err = %v, want 403 Forbidden", err)
	}
}

func TestControllerManagerFinishesNamespaceDeletion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cp := kube.StartTWith(t, 1, kube.Options{ControllerManager: true})[0]
	cs := clientset(t, cp.RESTConfig())

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete namespace: %v", err)
	}
	eventually(t, 60*time.Second, "namespace deleted", func() (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

func TestMissingBinariesFail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := kube.Start(t.Context(), kube.Options{BinDir: dir})
	want := "kube-apiserver not found in " + dir + ": run 'make kube-bins'"
	if err == nil || err.Error() != want {
		t.Fatalf("Start with an empty BinDir: err = %v, want %q", err, want)
	}
}

func TestBinDirFromEnv(t *testing.T) {
	// t.Setenv: not parallel.
	dir := filepath.Join(t.TempDir(), "elsewhere")
	t.Setenv(kube.BinDirEnv, dir)
	_, err := kube.Start(t.Context(), kube.Options{})
	want := "kube-apiserver not found in " + dir + ": run 'make kube-bins'"
	if err == nil || err.Error() != want {
		t.Fatalf("Start with %s=%s: err = %v, want %q", kube.BinDirEnv, dir, err, want)
	}
}

func TestStartCanceledCleansUp(t *testing.T) {
	// t.Setenv: not parallel. Start's temporary directory goes to TMPDIR.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	cp, err := kube.Start(ctx, kube.Options{})
	if !errors.Is(err, context.DeadlineExceeded) {
		if cp != nil {
			_ = cp.Stop()
		}
		t.Fatalf("Start with a context ending after 500ms: err = %v, want context.DeadlineExceeded", err)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("Start left %v behind in TMPDIR", left)
	}
}
