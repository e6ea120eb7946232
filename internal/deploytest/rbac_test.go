package deploytest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/daemon"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/fixture"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/k3sync/k3sync/internal/testenv/syncbuf"
	"github.com/k3sync/k3sync/internal/view"
)

// serviceAccountUser is k3sync's identity in the base: ServiceAccount
// k3sync of namespace k3sync, as the apiserver authenticates it.
var serviceAccountUser = []string{"system:serviceaccount:k3sync:k3sync", "system:serviceaccounts", "system:serviceaccounts:k3sync", "system:authenticated"}

// rbacObjects are the base's RBAC objects (and the Namespace and
// ServiceAccount they need), ClusterRole and Role rules replaced by the
// given ones.
func rbacObjects(t *testing.T, base []*unstructured.Unstructured, clusterRules, roleRules []any) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, o := range base {
		switch o.GetKind() {
		case "Namespace", "ServiceAccount", "ClusterRoleBinding", "RoleBinding":
			out = append(out, o)
		case "ClusterRole":
			c := o.DeepCopy()
			_ = unstructured.SetNestedSlice(c.Object, clusterRules, "rules")
			out = append(out, c)
		case "Role":
			c := o.DeepCopy()
			_ = unstructured.SetNestedSlice(c.Object, roleRules, "rules")
			out = append(out, c)
		}
	}
	return out
}

func ruleName(r any) string {
	m := r.(map[string]any)
	s := fmt.Sprint(m["resources"])
	if n, ok := m["resourceNames"]; ok {
		s += fmt.Sprint(n)
	}
	return s + " " + fmt.Sprint(m["verbs"])
}

func without(rules []any, i int) []any {
	out := append([]any{}, rules[:i]...)
	return append(out, rules[i+1:]...)
}

// TestRBAC proves that deploy/'s RBAC is enough and no more. With it,
// k3sync running as its ServiceAccount (a client certificate for that
// identity, so the apiserver's RBAC authorizer judges every request)
// applies the example platform repo — namespaces, quotas, RoleBindings to
// view/edit/admin, network policies, credential Secrets for Kafka and
// Kong, its state Secrets and its Lease — then prunes a namespace the repo
// drops. Without any one of its rules, or with bind on edit and admin but
// not view, the same run fails.
func TestRBAC(t *testing.T) {
	base := kustomize(t, kustomizeBase)
	clusterRules, _, _ := unstructured.NestedSlice(find(t, base, "ClusterRole", "k3sync").Object, "rules")
	roleRules, _, _ := unstructured.NestedSlice(find(t, base, "Role", "k3sync").Object, "rules")

	t.Run("as deployed", func(t *testing.T) {
		run := startRBACRun(t, rbacObjects(t, base, clusterRules, roleRules))
		defer run.stop()
		if why := run.firstSync(t); why != "" {
			t.Fatalf("k3sync as its ServiceAccount could not apply the example repo: %s\n%s", why, run.logs())
		}
		run.checkApplied(t)
		run.checkPrune(t)
	})

	type ablation struct {
		name                string
		clusterRule, roleRs []any
	}
	var cases []ablation
	for i := range clusterRules {
		cases = append(cases, ablation{"without ClusterRole rule " + ruleName(clusterRules[i]), without(clusterRules, i), roleRules})
	}
	for i := range roleRules {
		cases = append(cases, ablation{"without Role rule " + ruleName(roleRules[i]), clusterRules, without(roleRules, i)})
	}
	// Escalation prevention per role: payments binds view for auditors.
	for i, r := range clusterRules {
		if names, ok := r.(map[string]any)["resourceNames"].([]any); ok && len(names) == 3 {
			c := append([]any{}, clusterRules...)
			m := map[string]any{}
			for k, v := range r.(map[string]any) {
				m[k] = v
			}
			m["resourceNames"] = []any{"admin", "edit"}
			c[i] = m
			cases = append(cases, ablation{"bind without view", c, roleRules})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := startRBACRun(t, rbacObjects(t, base, tc.clusterRule, tc.roleRs))
			defer run.stop()
			why := run.firstSync(t)
			if why == "" {
				t.Fatalf("k3sync still applied the example repo: the rule is not needed, drop it from deploy/")
			}
			why, _, _ = strings.Cut(why, "\n")
			if !strings.Contains(why, "forbidden") && !strings.Contains(why, "Lease") {
				t.Fatalf("failed, but not for want of the rule: %s", why)
			}
			t.Logf("fails as it should: %s", why)
		})
	}
}

// rbacRun is k3sync serving the example repo on two fresh clusters as
// the ServiceAccount of deploy/.
type rbacRun struct {
	admin  map[string]kubernetes.Interface
	d      *daemon.Daemon
	repo   *gitserver.Repo
	log    *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan error
}

func (r *rbacRun) logs() string { return r.log.String() }

func startRBACRun(t *testing.T, rbac []*unstructured.Unstructured) *rbacRun {
	t.Helper()
	ctx := t.Context()
	run := &rbacRun{admin: map[string]kubernetes.Interface{}, log: &syncbuf.Buffer{}}
	// With the controller manager: it aggregates the rules of view, edit
	// and admin. Without it they are empty, anybody may bind them and the
	// escalation check this test is about never bites.
	planes := kube.StartTWith(t, 2, kube.Options{ControllerManager: true})
	dir := t.TempDir()
	cfg := &config.Config{
		Clusters: map[string]config.Cluster{},
		State:    config.State{Backend: "kubernetes", Namespace: "k3sync", Cluster: "eu-west", Path: filepath.Join(dir, "unused.db")},
		Reconcile: config.Reconcile{LeaderElection: &config.LeaderElection{
			Cluster: "eu-west", Namespace: "k3sync", Name: "k3sync-leader", Identity: "rbac-test",
			LeaseDuration: config.Duration{Duration: 3 * time.Second},
		}},
	}
	for i, name := range []string{"eu-west", "us-east"} {
		cp := planes[i]
		a := newApplier(t, cp)
		for _, o := range rbac {
			if err := a.apply(t, o, false); err != nil {
				t.Fatal(err)
			}
		}
		kc, err := cp.KubeconfigFor(serviceAccountUser[0], serviceAccountUser[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".kubeconfig")
		if err := os.WriteFile(path, kc, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Clusters[name] = config.Cluster{Kubeconfig: path, QPS: 200, Burst: 400}
		if run.admin[name], err = kubernetes.NewForConfig(cp.RESTConfig()); err != nil {
			t.Fatal(err)
		}
		waitAggregated(t, run.admin[name])
	}
	kafka, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kafka.Close)
	kong := kongemu.New(kongemu.Options{})
	kongURL, err := kong.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka = map[string]config.Kafka{"main": {Brokers: kafka.ListenAddrs()}}
	cfg.Gateways = map[string]config.Gateway{"edge": {AdminURL: kongURL}}

	run.repo = gitserver.NewRepo(t, t.TempDir(), "platform.git")
	run.repo.CopyDir(fixture.ExampleDir(t)) // applies at any hour: no sync windows
	run.repo.Commit("Import the example platform repo")
	cfg.Git = config.Git{URL: run.repo.FileURL(), Branch: gitserver.Branch, Interval: config.Duration{Duration: time.Hour}, Dir: filepath.Join(dir, "clone")}

	if run.d, err = daemon.New(cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(run.log, nil))}); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithCancel(ctx)
	run.cancel, run.done = cancel, make(chan error, 1)
	go func() { run.done <- run.d.Start(dctx) }()
	return run
}

func (r *rbacRun) stop() {
	r.cancel()
	_ = <-r.done // Start returns nil once its context ends
	r.d.Close()
}

var wantStates = map[string]view.State{"analytics": view.Suspended, "checkout": view.Synced, "payments": view.Synced, "search": view.Synced}

// firstSync waits for the first sync and says what went wrong, "" if
// nothing did.
func (r *rbacRun) firstSync(t *testing.T) string {
	t.Helper()
	ctx := t.Context()
	start := time.Now()
	for r.d.Ready() != nil {
		if time.Since(start) > 10*time.Second {
			lease, err := r.admin["eu-west"].CoordinationV1().Leases("k3sync").Get(ctx, "k3sync-leader", metav1.GetOptions{})
			if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "rbac-test" {
				return fmt.Sprintf("never acquired the Lease (%v)", err)
			}
		}
		if time.Since(start) > 60*time.Second {
			return fmt.Sprintf("not ready after a minute: %v", r.d.Ready())
		}
		time.Sleep(100 * time.Millisecond)
	}
	o, err := r.d.Reconciler.Overview(ctx)
	if err != nil {
		return fmt.Sprintf("overview: %v", err)
	}
	got := map[string]view.State{}
	for _, ts := range o.Tenants {
		got[ts.Name] = ts.State
	}
	if fmt.Sprint(got) == fmt.Sprint(wantStates) {
		return ""
	}
	why := fmt.Sprintf("tenant states %v", got)
	if runs, err := r.d.Reconciler.History(ctx, "", 20); err == nil {
		for _, run := range runs {
			if run.Message != "" {
				why += "; " + run.Tenant + ": " + run.Message
			}
			for _, c := range run.Changes {
				if c.Error != "" {
					return why + "; " + run.Tenant + ": " + c.Error
				}
			}
		}
	}
	return why
}

// checkApplied looks, as the admin, at what k3sync wrote as the
// ServiceAccount.
func (r *rbacRun) checkApplied(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	eu := r.admin["eu-west"]
	rbs, err := eu.RbacV1().RoleBindings("payments").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]bool{}
	for _, rb := range rbs.Items {
		roles[rb.RoleRef.Name] = true
	}
	if !roles["view"] || !roles["edit"] || !roles["admin"] {
		t.Errorf("payments RoleBindings bind %v, want view, edit and admin", roles)
	}
	creds, err := eu.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: "k3sync.io/credential"})
	if err != nil || len(creds.Items) == 0 {
		t.Errorf("no credential Secrets delivered (%v)", err)
	}
	store, err := state.NewKube(eu, "k3sync")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := store.List(ctx, "kubernetes/eu-west")
	if err != nil || len(entries) == 0 {
		t.Errorf("no inventory in the state Secrets: %v %v", entries, err)
	}
}

// checkPrune commits a revision without namespace search-indexer and
// checks that k3sync, as the ServiceAccount, deletes what it owned there.
func (r *rbacRun) checkPrune(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	f := filepath.Join(r.repo.Work, "tenants/search/tenant.cue")
	src := string(mustRead(t, f))
	cut, err := cutBlock(src, `"search-indexer": {`)
	if err != nil {
		t.Fatal(err)
	}
	r.repo.WriteFile("tenants/search/tenant.cue", cut)
	hash := r.repo.Commit("search: drop the indexer namespace")
	r.d.Reconciler.Poll()
	deadline := time.Now().Add(60 * time.Second)
	for {
		runs, err := r.d.Reconciler.History(ctx, "search", 1)
		if err == nil && len(runs) == 1 && runs[0].Revision == hash {
			if runs[0].Result != state.ResultSynced {
				t.Fatalf("pruning search-indexer: %s %s %+v", runs[0].Result, runs[0].Message, runs[0].Changes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run of search at %s after a minute\n%s", hash, r.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for name, cs := range r.admin {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, "search-indexer", metav1.GetOptions{})
		if err == nil && ns.DeletionTimestamp == nil {
			t.Errorf("%s: namespace search-indexer not deleted", name)
		} else if err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
	}
}

// cutBlock removes from src the block that starts with open and ends at
// its matching brace.
func cutBlock(src, open string) (string, error) {
	i := strings.Index(src, open)
	if i < 0 {
		return "", fmt.Errorf("%q not found", open)
	}
	depth := 0
	for j := i + len(open) - 1; j < len(src); j++ {
		switch src[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return src[:i] + src[j+1:], nil
			}
		}
	}
	return "", fmt.Errorf("%q: no closing brace", open)
}

// waitAggregated waits until the controller manager has filled the
// aggregated ClusterRoles tenants bind.
func waitAggregated(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, role := range []string{"view", "edit", "admin"} {
		for {
			cr, err := cs.RbacV1().ClusterRoles().Get(t.Context(), role, metav1.GetOptions{})
			if err == nil && len(cr.Rules) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ClusterRole %s not aggregated after a minute (%v)", role, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
