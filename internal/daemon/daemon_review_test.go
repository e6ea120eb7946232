package daemon

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twmb/franz-go/pkg/kfake"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/review"
	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/gitea"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// giteaPeers are the real peers of the example repo with the platform
// repo on a real Gitea.
type giteaPeers struct {
	gitea    *gitea.Server
	repo     string
	clusters map[string]kubernetes.Interface
	cfg      *config.Config
}

const (
	reviewTokenEnv  = "K3SYNC_TEST_FORGE_TOKEN"
	reviewSecretEnv = "K3SYNC_TEST_GITEA_WEBHOOK_SECRET"
	reviewSecret    = "webhook-secret-for-tests"
	dashboard       = "https://k3sync.example"
)

// startGiteaPeers starts Gitea with the example repo on main, two
// kube-apiservers, kfake and the Kong emulator, and configures the daemon
// to follow the repo and review its pull requests.
func startGiteaPeers(t *testing.T) *giteaPeers {
	t.Helper()
	ctx := t.Context()
	p := &giteaPeers{gitea: gitea.StartT(t), clusters: map[string]kubernetes.Interface{}}
	repo, err := p.gitea.CreateRepo(ctx, "platform")
	if err != nil {
		t.Fatal(err)
	}
	p.repo = repo.FullName
	files := map[string]string{}
	err = filepath.WalkDir(exampleRepo, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(exampleRepo, path)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.gitea.CommitFiles(ctx, p.repo, gitea.Commit{Message: "Import the example platform repo", Files: files}); err != nil {
		t.Fatal(err)
	}

	cps := kube.StartT(t, 2)
	for i, name := range []string{"eu-west", "us-east"} {
		cs, err := kubernetes.NewForConfig(cps[i].RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		p.clusters[name] = cs
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
	t.Setenv(reviewTokenEnv, p.gitea.AdminToken)
	t.Setenv(reviewSecretEnv, reviewSecret)
	dir := t.TempDir()
	p.cfg = &config.Config{
		Clusters: map[string]config.Cluster{
			"eu-west": {Kubeconfig: cps[0].KubeconfigPath(), QPS: 2000, Burst: 4000},
			"us-east": {Kubeconfig: cps[1].KubeconfigPath(), QPS: 2000, Burst: 4000},
		},
		Kafka:    map[string]config.Kafka{"main": {Brokers: kafka.ListenAddrs()}},
		Gateways: map[string]config.Gateway{"edge": {AdminURL: kongURL}},
		State:    config.State{Path: filepath.Join(dir, "state.db")},
		Git:      config.Git{URL: p.gitea.GitURL(p.repo), Branch: "main", Interval: config.Duration{Duration: time.Hour}, Dir: filepath.Join(dir, "clone")},
		Server:   config.Server{Webhooks: config.Webhooks{Gitea: config.Secret{SecretEnv: reviewSecretEnv}}},
		Forge: config.Forge{
			Kind: config.ForgeGitea, URL: p.gitea.URL, Repo: p.repo, Token: config.Secret{TokenEnv: reviewTokenEnv},
			DashboardURL: dashboard, Interval: config.Duration{Duration: time.Hour},
		},
	}
	return p
}

// serveWithGitea runs d as serve does, h (its server's handler) behind a
// test server that a Gitea webhook of repo (push, pull_request) calls,
// until stop. It returns the webhook's URL.
func serveWithGitea(tb testing.TB, d *Daemon, h http.Handler, g *gitea.Server, repo string) (hookURL string, stop func()) {
	tb.Helper()
	hs := httptest.NewServer(h)
	hookURL = hs.URL + "/hooks/gitea"
	if _, err := g.CreateWebhook(tb.Context(), repo, hookURL, reviewSecret, []string{"push", "pull_request"}); err != nil {
		hs.Close()
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(tb.Context())
	done := make(chan error, 1)
	go func() { done <- d.Start(ctx) }()
	return hookURL, func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
		hs.Close()
	}
}

// openPR commits files on a new branch cut from main and opens a pull
// request from it.
func (p *giteaPeers) openPR(t *testing.T, branch string, files map[string]string) (number int, head string) {
	t.Helper()
	head = p.commit(t, "", branch, files)
	pr, err := p.gitea.CreatePullRequest(t.Context(), p.repo, branch, "main", branch)
	if err != nil {
		t.Fatal(err)
	}
	return int(pr.Number), head
}

// commit commits files to branch (or to a new branch newBranch).
func (p *giteaPeers) commit(t *testing.T, branch, newBranch string, files map[string]string) string {
	t.Helper()
	sha, err := p.gitea.CommitFiles(t.Context(), p.repo, gitea.Commit{Branch: branch, NewBranch: newBranch, Message: "edit " + branch + newBranch, Files: files})
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

// status is the latest status of context on sha.
func (p *giteaPeers) status(t *testing.T, sha, context string) (gitea.CommitStatus, bool) {
	t.Helper()
	sts, err := p.gitea.ListStatuses(t.Context(), p.repo, sha)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts { // newest first
		if s.Context == context {
			return s, true
		}
	}
	return gitea.CommitStatus{}, false
}

// planComments are the pull request's comments that carry the marker.
func (p *giteaPeers) planComments(t *testing.T, number int) []gitea.Comment {
	t.Helper()
	cs, err := p.gitea.ListComments(t.Context(), p.repo, int64(number))
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(cs, func(c gitea.Comment) bool { return !strings.Contains(c.Body, review.Marker) })
}

func (p *giteaPeers) fileURL(sha, path string, line int) string {
	return fmt.Sprintf("%s/%s/src/commit/%s/%s#L%d", p.gitea.URL, p.repo, sha, path, line)
}

// TestPullRequestFeedbackOnGitea follows pull requests on a real Gitea
// through the review loop, planned against real peers after main was
// applied: a plan, a push that edits the same comment, an invalid head,
// an ownership violation, a webhook that triggers a re-plan (and one with
// a wrong signature refused), and the apply status of the merge.
func TestPullRequestFeedbackOnGitea(t *testing.T) {
	p := startGiteaPeers(t)
	ctx := t.Context()
	d, err := New(p.cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	loop := d.Review()
	if loop == nil {
		t.Fatal("no review loop with a forge configured")
	}
	d.Reconciler.PollOnce(ctx)
	if err := d.Ready(); err != nil {
		t.Fatal(err)
	}

	// A pull request that adds a topic to checkout: planned against live
	// state, a success status with the summary and one comment.
	returns := "package k3sync\n\nkafka: topics: \"checkout.returns\": partitions: 3\n"
	pr1, head1 := p.openPR(t, "returns", map[string]string{"tenants/checkout/returns.cue": returns})
	evaluated := d.loaderCache.Stats().Evaluated
	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	// The loop's first pass reuses the reconciler's evaluations of main:
	// only the folder the pull request changes is evaluated.
	if n := d.loaderCache.Stats().Evaluated - evaluated; n != 1 {
		t.Errorf("the first pass evaluated %d tenant folders, want 1 (checkout's)", n)
	}
	st, ok := p.status(t, head1, forge.ContextPlan)
	if want := "1 change: 1 to create, 0 to update, 0 to delete, 0 to orphan, 0 blocked"; !ok || st.State != "success" || st.Description != want || st.TargetURL != dashboard+"/tenants/checkout" {
		t.Fatalf("plan status on %s: %+v, want success %q", head1, st, want)
	}
	comments := p.planComments(t, pr1)
	if len(comments) != 1 {
		t.Fatalf("%d plan comments, want 1", len(comments))
	}
	first := comments[0]
	for _, want := range []string{"## ✅ k3sync plan: 1 change", "Tenants changed: `checkout`", "### `checkout`", "**kafka / `main`**", "+ create topic checkout.returns"} {
		if !strings.Contains(first.Body, want) {
			t.Errorf("comment lacks %q:\n%s", want, first.Body)
		}
	}
	t.Logf("comment on #%d:\n%s", pr1, first.Body)

	// A second commit on the branch: the same comment, edited.
	returns2 := returns + "kafka: topics: \"checkout.returns-dlq\": partitions: 1\n"
	head2 := p.commit(t, "returns", "", map[string]string{"tenants/checkout/returns.cue": returns2})
	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	comments = p.planComments(t, pr1)
	if len(comments) != 1 || comments[0].ID != first.ID {
		t.Fatalf("after a push: %d plan comments, want comment %d edited", len(comments), first.ID)
	}
	if body := comments[0].Body; !strings.Contains(body, "+ create topic checkout.returns-dlq") || !strings.Contains(body, "`"+head2[:12]+"`") || body == first.Body {
		t.Errorf("edited comment:\n%s", body)
	}
	if st, ok := p.status(t, head2, forge.ContextPlan); !ok || st.State != "success" || !strings.HasPrefix(st.Description, "2 changes: 2 to create") {
		t.Errorf("plan status on the new head: %+v", st)
	}

	// An invalid head: failure with the first error, every error in the
	// comment linked to its line.
	pr2, head3 := p.openPR(t, "broken", map[string]string{"tenants/search/tenant.cue": "package k3sync\n\nowners: []\n"})
	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ = p.status(t, head3, forge.ContextPlan)
	if st.State != "failure" || !strings.HasPrefix(st.Description, "Invalid (1 error): tenants/search/tenant.cue:3:9: owners:") {
		t.Errorf("invalid head status: %+v", st)
	}
	comments = p.planComments(t, pr2)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "[`tenants/search/tenant.cue:3:9`]("+p.fileURL(head3, "tenants/search/tenant.cue", 3)+"): `owners`:") {
		t.Errorf("invalid head comment: %+v", comments)
	}

	// A branch cut before main gave namespace payments-eu to payments adds
	// a tenant payments-eu that claims it: each is valid alone, the merge
	// is not, and the pull request is planned as merged.
	euFiles := map[string]string{"tenants/payments-eu/tenant.cue": `package k3sync

owners: ["team-payments-eu@example.com"]

kubernetes: {
	clusters: ["eu-west"]
	namespaces: "payments-eu": quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
`}
	p.commit(t, "", "eu", euFiles)
	payments := readFile(t, filepath.Join(exampleRepo, "tenants/payments/tenant.cue"))
	withEU := strings.Replace(payments, "\t\t\"payments-batch\": {", "\t\t\"payments-eu\": quota: {requests: {cpu: \"1\", memory: \"1Gi\"}, pods: 10}\n\t\t\"payments-batch\": {", 1)
	p.commit(t, "main", "", map[string]string{"tenants/payments/tenant.cue": withEU})
	d.Reconciler.PollOnce(ctx)
	prEU, err := p.gitea.CreatePullRequest(ctx, p.repo, "eu", "main", "payments-eu: new tenant")
	if err != nil {
		t.Fatal(err)
	}
	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ = p.status(t, prEU.HeadSHA, forge.ContextPlan)
	// Both tenants are told: payments-eu cannot claim what payments holds,
	// and payments holds a name of payments-eu's prefix.
	if st.State != "failure" || !strings.HasPrefix(st.Description, "Invalid (2 errors): tenants/payments-eu/tenant.cue:") {
		t.Errorf("merge conflict status: %+v", st)
	}
	comments = p.planComments(t, int(prEU.Number))
	if len(comments) != 1 || !strings.Contains(comments[0].Body, `namespace "payments-eu" is already claimed by tenant payments`) ||
		!strings.Contains(comments[0].Body, `namespace "payments-eu" is in the prefix of tenant payments-eu, whose name is longer`) {
		t.Errorf("merge conflict comment: %+v", comments)
	}

	// Ownership: search is suspended while main drops its namespace
	// search-indexer, so search still holds it live with the delete
	// pending. A new tenant search-indexer that claims the name is valid
	// in Git, but the namespace is search's: its plan blocks it (not
	// owned) and the pull request fails for ownership.
	if err := d.Reconciler.Suspend(ctx, "search", true, "test"); err != nil {
		t.Fatal(err)
	}
	search := readFile(t, filepath.Join(exampleRepo, "tenants/search/tenant.cue"))
	i, j := strings.Index(search, "\t\t\"search-indexer\": {"), strings.Index(search, "\taccess:")
	p.commit(t, "main", "", map[string]string{"tenants/search/tenant.cue": search[:i] + "\t}\n" + search[j:]})
	d.Reconciler.PollOnce(ctx)
	prOwn, headOwn := p.openPR(t, "indexer", map[string]string{"tenants/search-indexer/tenant.cue": `package k3sync

owners: ["team-indexer@example.com"]

kubernetes: {
	clusters: ["us-east"]
	namespaces: "search-indexer": quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
`})
	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ = p.status(t, headOwn, forge.ContextPlan)
	if st.State != "failure" || !strings.HasPrefix(st.Description, "Ownership:") || !strings.Contains(st.Description, "of tenant search)") {
		t.Errorf("ownership status: %+v", st)
	}
	comments = p.planComments(t, prOwn)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "`kubernetes/us-east/Namespace/search-indexer` blocked (planned for tenant `search-indexer`): tenant `search` still holds it live, with a change to it pending on `main`: `- delete Namespace search-indexer`") {
		t.Errorf("ownership comment: %+v", comments)
	}
	if len(comments) == 1 {
		t.Logf("comment on #%d:\n%s", prOwn, comments[0].Body)
	}

	// The daemon as serve runs it: a Gitea webhook re-plans at once (the
	// interval is an hour); a delivery with a wrong signature is refused.
	srv, err := server.New(p.cfg.Server, d.Reconciler, d.Hooks())
	if err != nil {
		t.Fatal(err)
	}
	hookURL, stop := serveWithGitea(t, d, srv.Handler(), p.gitea, p.repo)
	defer stop()
	head4 := p.commit(t, "returns", "", map[string]string{"tenants/checkout/returns.cue": returns2 + "kafka: topics: \"checkout.returns-audit\": partitions: 1\n"})
	eventually(t, time.Minute, "a plan status on the head pushed, from the webhook", func() bool {
		st, ok := p.status(t, head4, forge.ContextPlan)
		return ok && st.State == "success" && strings.HasPrefix(st.Description, "3 changes")
	})
	if n := len(p.planComments(t, pr1)); n != 1 {
		t.Errorf("%d plan comments after the webhook re-plan, want 1", n)
	}
	for _, sig := range []string{"", strings.Repeat("0", 64)} {
		body := []byte(`{"action":"synchronized","number":1,"pull_request":{"number":1,"head":{"sha":"x"}}}`)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hookURL, bytes.NewReader(body))
		req.Header.Set("X-Gitea-Event", "pull_request")
		req.Header.Set("X-Gitea-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("signature %q: %s, want 401", sig, resp.Status)
		}
	}
	body := []byte(`{"action":"synchronized","number":1,"pull_request":{"number":1,"head":{"sha":"x"}}}`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hookURL, bytes.NewReader(body))
	req.Header.Set("X-Gitea-Event", "pull_request")
	req.Header.Set("X-Gitea-Signature", signHex(reviewSecret, body))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Errorf("a correctly signed delivery: %v %v", resp, err)
	} else {
		_ = resp.Body.Close()
	}

	// Merged: once the reconciler applied the merge commit, it gets the
	// apply status.
	if err := p.gitea.API(ctx, http.MethodPost, fmt.Sprintf("/repos/%s/pulls/%d/merge", p.repo, pr1), map[string]string{"Do": "merge"}, nil); err != nil {
		t.Fatal(err)
	}
	pr, err := p.gitea.GetPullRequest(ctx, p.repo, int64(pr1))
	if err != nil {
		t.Fatal(err)
	}
	var mergeSHA string
	eventually(t, time.Minute, "the merge commit applied (push webhook)", func() bool {
		o, err := d.Reconciler.Overview(ctx)
		if err != nil || o.Revision.Hash == pr.HeadSHA {
			return false
		}
		mergeSHA = o.Revision.Hash
		return mergeSHA != "" && strings.Contains(o.Revision.Subject, "Merge")
	})
	var history []state.Run
	eventually(t, time.Minute, "a run of checkout at the merge commit", func() bool {
		history, err = d.Reconciler.History(ctx, "", 100)
		return err == nil && slices.ContainsFunc(history, func(r state.Run) bool { return r.Tenant == "checkout" && r.Revision == mergeSHA })
	})
	runs := slices.DeleteFunc(history, func(r state.Run) bool { return r.Revision != mergeSHA })
	if err := loop.Applied(ctx, mergeSHA, runs); err != nil {
		t.Fatal(err)
	}
	want := review.AppliedStatus(runs, dashboard)
	st, ok = p.status(t, mergeSHA, forge.ContextApply)
	if !ok || st.State != string(want.State) || st.Description != want.Description {
		t.Errorf("apply status of %s: %+v, want %+v", mergeSHA, st, want)
	}
	t.Logf("apply status of the merge %s: %s %q", mergeSHA[:12], st.State, st.Description)
	eventually(t, time.Minute, "the merged pull request forgotten", func() bool {
		h, _ := loop.Planned(pr1)
		return h == ""
	})
}

func signHex(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// eventually polls cond every 100ms for up to limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// namedTarget is a target known only by its system and name, as holding
// sees the daemon's targets.
type namedTarget struct {
	system plan.System
	name   string
}

func (n namedTarget) System() plan.System { return n.system }
func (n namedTarget) Name() string        { return n.name }
func (namedTarget) Plan(context.Context, plan.Request) ([]plan.Change, error) {
	return nil, nil
}

func (namedTarget) Apply(context.Context, plan.Request, plan.ApplyOptions) ([]plan.Result, error) {
	return nil, nil
}

// TestHoldingFindsWhoHoldsTheNames: the pull-request ownership check plans
// on main the tenants whose inventory, on a target of the daemon, holds an
// ID that mentions a name the pull request touches: Kafka's '.' and '_'
// alike (a topic payments_orders collides with payments.orders), every
// target searched, none outside the daemon's targets.
func TestHoldingFindsWhoHoldsTheNames(t *testing.T) {
	store, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	for _, e := range []state.Entry{
		{Tenant: "payments", Target: "kafka/main", Resources: map[string]json.RawMessage{"topic/payments.orders": nil, "user/payments.api": nil}},
		{Tenant: "search", Target: "kubernetes/eu-west", Resources: map[string]json.RawMessage{"Namespace//search-indexer": nil, "ResourceQuota/search-indexer/tenant-quota": nil}},
		{Tenant: "checkout", Target: "kong/edge", Resources: map[string]json.RawMessage{"service/checkout-api": nil}},
		{Tenant: "elsewhere", Target: "kafka/other", Resources: map[string]json.RawMessage{"topic/payments.orders": nil}},
	} {
		if err := store.Save(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	held := holding(store, []apply.Target{
		namedTarget{plan.Kubernetes, "eu-west"}, namedTarget{plan.Kafka, "main"}, namedTarget{plan.Kong, "edge"},
	})
	for _, tt := range []struct {
		names []string
		want  []string
	}{
		{[]string{"payments_orders"}, []string{"payments"}},
		{[]string{"search-indexer"}, []string{"search"}},
		{[]string{"checkout-api", "search-indexer"}, []string{"checkout", "search"}},
		{[]string{"nobody-holds-this"}, nil},
		{[]string{""}, nil},
	} {
		got, err := held(t.Context(), tt.names)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("holding %q (-want +got):\n%s", tt.names, diff)
		}
	}
}
