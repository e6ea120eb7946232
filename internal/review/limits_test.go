package review

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// TestPullRequestOverInputLimit: a pull request whose tenant file is over
// the platform's policy.input.maxFileBytes fails with a status and comment
// naming the file; another pull request of the same pass is still planned.
func TestPullRequestOverInputLimit(t *testing.T) {
	ctx := t.Context()
	up := gitserver.NewRepo(t, t.TempDir(), "platform.git")
	up.CopyDir(exampleRepo)
	base := up.Commit("Import the example platform repo")
	up.WriteFile("tenants/payments/refunds.cue", "package k3sync\n\nkafka: topics: \"payments.refunds\": partitions: 3\n")
	good := up.CommitRef("payments: refunds topic", "refs/pull/7/head")
	up.Git("reset", "--quiet", "--hard", base)
	up.WriteFile("tenants/search/big.cue", "package k3sync\n\n// "+strings.Repeat("x", 300<<10)+"\n")
	big := up.CommitRef("search: a large file", "refs/pull/8/head")
	up.Git("reset", "--quiet", "--hard", base)

	src := cloneOf(t, up)
	api := newGitHubAPI(t)
	api.mergeBase = base
	api.pulls = []map[string]any{pullRequest(7, "pr", "alice", good), pullRequest(8, "pr", "alice", big)}
	// Pull request 8's comments, which the shared fake does not serve.
	var mu sync.Mutex
	var comments8 []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/repos/o/r/issues/8/comments" {
			api.serve(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, "[]")
			return
		}
		var in map[string]string
		_ = json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		comments8 = append(comments8, in["body"])
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": 800, "body": in["body"], "user": map[string]any{"login": "k3sync-bot"}})
	}))
	t.Cleanup(srv.Close)
	gh, err := forge.NewGitHub(srv.URL, "o/r", "gh-token", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{fn: func(req plan.Request) *plan.Plan { return bigPlan(req, 1) }}
	loop := New(gh, src, eng, Options{DashboardURL: "https://k3sync.example", Logger: testLogger(t)})
	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}

	final := map[string]map[string]string{}
	for _, s := range api.statuses {
		final[s["sha"]] = s
	}
	if s := final[big]; s["state"] != "failure" {
		t.Errorf("status of the pull request over the limit: %v, want failure", s)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"tenants/search/big.cue:1:1", "file is 307220 bytes, the platform allows at most 262144 per tenant file (policy.input.maxFileBytes)"} {
		if len(comments8) != 1 || !strings.Contains(comments8[0], want) {
			t.Errorf("comment on the pull request over the limit does not say %q:\n%v", want, comments8)
		}
	}
	if s := final[good]; s["state"] != "success" {
		t.Errorf("status of the other pull request: %v, want success", s)
	}
	planned := false
	for _, r := range eng.reqs {
		if r.Revision == good && len(r.Tenants) == 1 && r.Tenants[0].Model.Name == "payments" {
			planned = true
		}
	}
	if !planned {
		t.Errorf("the other pull request was not planned: %+v", eng.reqs)
	}
}
