package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/source"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

const exampleRepo = "../../examples/platform-repo"

// fakeEngine answers plans from a function and records the requests. It
// stands in for the targets in unit tests; the daemon's tests plan
// against real peers.
type fakeEngine struct {
	mu   sync.Mutex
	reqs []plan.Request
	fn   func(req plan.Request) *plan.Plan
}

func (e *fakeEngine) Plan(_ context.Context, req plan.Request) *plan.Plan {
	e.mu.Lock()
	e.reqs = append(e.reqs, req)
	e.mu.Unlock()
	return e.fn(req)
}

// ghCall is one request the recording GitHub got, and when.
type ghCall struct {
	Method, Path, Query, Body string
	At                        time.Time
}

// github is a recording GitHub REST API for one repository, o/r, with one
// pull request whose head and merge base the test sets.
type githubAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	calls     []ghCall
	pulls     []map[string]any
	mergeBase string
	comments  []map[string]any
	statuses  []map[string]string

	// fault, when set, may answer a request with an error status and
	// headers instead, and the time before which no call may come (zero:
	// none); it runs with mu held.
	fault func(r *http.Request, now time.Time) (int, http.Header, time.Time)
	// faults are the answers fault gave: when, and the time before which
	// no call may come.
	faults []ghFault
}

// ghFault is an error answer of the recording GitHub.
type ghFault struct {
	Code      int
	At, Until time.Time
}

// cloneOf is a source that clones up's main into a folder of the test.
func cloneOf(t *testing.T, up *gitserver.Repo) *source.Poller {
	t.Helper()
	src, err := source.New(source.Config{URL: up.FileURL(), Branch: "main", Dir: filepath.Join(t.TempDir(), "clone")})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// pullRequest is GitHub's answer for pull request n, by author, at head.
func pullRequest(n int, title, author, head string) map[string]any {
	return map[string]any{"number": n, "title": title, "html_url": fmt.Sprintf("https://github.com/o/r/pull/%d", n),
		"user": map[string]any{"login": author}, "head": map[string]any{"ref": "b", "sha": head}, "base": map[string]any{"ref": "main"}}
}

func newGitHubAPI(t *testing.T) *githubAPI {
	g := &githubAPI{t: t}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *githubAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.calls = append(g.calls, ghCall{r.Method, r.URL.Path, r.URL.RawQuery, string(body), now})
	if got := r.Header.Get("Authorization"); got != "Bearer gh-token" {
		g.t.Errorf("%s %s: Authorization %q", r.Method, r.URL.Path, got)
	}
	if g.fault != nil {
		if code, h, until := g.fault(r, now); code != 0 {
			g.faults = append(g.faults, ghFault{code, now, until})
			for k, v := range h {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": http.StatusText(code)})
			return
		}
	}
	var in map[string]string
	_ = json.Unmarshal(body, &in)
	var out any
	code := http.StatusOK
	switch {
	case r.Method == "GET" && r.URL.Path == "/repos/o/r/pulls":
		out = g.pulls
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/repos/o/r/compare/"):
		out = map[string]any{"merge_base_commit": map[string]any{"sha": g.mergeBase}}
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/repos/o/r/statuses/"):
		in["sha"] = strings.TrimPrefix(r.URL.Path, "/repos/o/r/statuses/")
		g.statuses = append(g.statuses, in)
		code, out = http.StatusCreated, map[string]any{"id": len(g.statuses)}
	case r.Method == "GET" && r.URL.Path == "/user":
		out = map[string]any{"login": "k3sync-bot"}
	case r.Method == "GET" && r.URL.Path == "/repos/o/r/issues/7/comments":
		out = g.comments
	case r.Method == "POST" && r.URL.Path == "/repos/o/r/issues/7/comments":
		c := map[string]any{"id": 100 + len(g.comments), "body": in["body"], "user": map[string]any{"login": "k3sync-bot"}}
		g.comments = append(g.comments, c)
		code, out = http.StatusCreated, c
	case r.Method == "PATCH" && strings.HasPrefix(r.URL.Path, "/repos/o/r/issues/comments/"):
		for _, c := range g.comments {
			if fmt.Sprint(c["id"]) == strings.TrimPrefix(r.URL.Path, "/repos/o/r/issues/comments/") {
				c["body"] = in["body"]
				out = c
			}
		}
	default:
		g.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		code = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(out)
}

// take returns the calls as "METHOD path" and forgets them.
func (g *githubAPI) take() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.calls {
		s := c.Method + " " + c.Path
		if c.Query != "" {
			s += "?" + c.Query
		}
		out = append(out, s)
	}
	g.calls = nil
	return out
}

// bigPlan is a plan of payments with n topic creates, each with fields
// long enough that the full Markdown exceeds GitHub's comment limit.
func bigPlan(req plan.Request, n int) *plan.Plan {
	p := &plan.Plan{Revision: req.Revision}
	for i := range n {
		c := plan.Change{
			Key:    plan.Key{Tenant: "payments", System: plan.Kafka, Target: "main", Kind: "topic", Name: fmt.Sprintf("payments.generated-%04d", i)},
			Action: plan.Create,
		}
		for j := range 6 {
			c.Fields = append(c.Fields, plan.FieldChange{Path: fmt.Sprintf("configs.key-%d", j), After: strings.Repeat("v", 20)})
		}
		c.Fields = append(c.Fields, plan.FieldChange{Path: "password", After: "hunter2-secret", Sensitive: true})
		p.Changes = append(p.Changes, c)
	}
	plan.Sort(p.Changes)
	return p
}

// TestGitHubLoop runs the loop against a recording GitHub and a real Git
// server: the exact REST calls, the merge base from the compare API, the
// scope it gives, and a plan too long for a comment shortened to every
// change's headline.
func TestGitHubLoop(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	up := gitserver.NewRepo(t, root, "platform.git")
	up.CopyDir(exampleRepo)
	mergeBase := up.Commit("Import the example platform repo")
	up.WriteFile("tenants/payments/refunds.cue", "package k3sync\n\nkafka: topics: \"payments.refunds\": partitions: 3\n")
	head := up.CommitRef("payments: refunds topic", "refs/pull/7/head")
	// The tracked branch moved on after the pull request was cut: a change
	// there must not count as the pull request's.
	up.Git("reset", "--quiet", "--hard", mergeBase)
	up.WriteFile("tenants/search/tenant.cue", "package k3sync\n\nowners: [\"team-search@example.com\"]\n")
	tracked := up.Commit("search: trim")

	clone := filepath.Join(t.TempDir(), "clone")
	src, err := source.New(source.Config{URL: up.FileURL(), Branch: "main", Dir: clone})
	if err != nil {
		t.Fatal(err)
	}
	api := newGitHubAPI(t)
	api.mergeBase = mergeBase
	api.pulls = []map[string]any{{"number": 7, "title": "payments: refunds", "html_url": "https://github.com/o/r/pull/7",
		"user": map[string]any{"login": "alice"}, "head": map[string]any{"ref": "refunds", "sha": head}, "base": map[string]any{"ref": "main"}}}
	gh, err := forge.NewGitHub(api.srv.URL, "o/r", "gh-token", api.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{fn: func(req plan.Request) *plan.Plan { return bigPlan(req, 400) }}
	loop := New(gh, src, eng, Options{DashboardURL: "https://k3sync.example", Logger: testLogger(t)})

	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GET /repos/o/r/pulls?base=main&per_page=100&state=open",
		"POST /repos/o/r/statuses/" + head,
		"GET /repos/o/r/compare/" + tracked + "..." + head + "?per_page=1",
		"GET /user",
		"GET /repos/o/r/issues/7/comments?per_page=100",
		"POST /repos/o/r/issues/7/comments",
		"POST /repos/o/r/statuses/" + head,
	}
	if diff := cmp.Diff(want, api.take()); diff != "" {
		t.Errorf("REST calls (-want +got):\n%s", diff)
	}
	// The pull request's tenants, then every tenant of the tracked branch
	// for the ownership check.
	if len(eng.reqs) != 2 || eng.reqs[0].Complete || len(eng.reqs[0].Tenants) != 1 || eng.reqs[0].Tenants[0].Model.Name != "payments" || eng.reqs[0].Revision != head {
		t.Fatalf("plan requests: %+v", eng.reqs)
	}
	if r := eng.reqs[1]; !r.Complete || len(r.Tenants) != 4 || r.Revision != tracked {
		t.Fatalf("pending plan request: %+v", r)
	}

	wantStatuses := []map[string]string{
		{"sha": head, "context": "k3sync/plan", "state": "pending", "description": "Planning against live state…", "target_url": "https://github.com/o/r/pull/7"},
		{"sha": head, "context": "k3sync/plan", "state": "success", "description": "400 changes: 400 to create, 0 to update, 0 to delete, 0 to orphan, 0 blocked", "target_url": "https://k3sync.example/tenants/payments"},
	}
	if diff := cmp.Diff(wantStatuses, api.statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if len(api.comments) != 1 {
		t.Fatalf("%d comments", len(api.comments))
	}
	body := api.comments[0]["body"].(string)
	if len(body) > forge.GitHubMaxComment {
		t.Errorf("comment is %d bytes, over GitHub's %d", len(body), forge.GitHubMaxComment)
	}
	var full strings.Builder
	p := bigPlan(eng.reqs[0], 400)
	if err := p.WriteMarkdown(&full); err != nil || full.Len() <= forge.GitHubMaxComment {
		t.Fatalf("the full plan (%d bytes) should not fit: the test proves nothing", full.Len())
	}
	for _, c := range p.Changes {
		if !strings.Contains(body, "\n"+plan.Headline(c)+"\n") {
			t.Fatalf("headline %q missing from the shortened comment", plan.Headline(c))
		}
	}
	for _, s := range []string{Marker, "[Full plan of `payments`](https://k3sync.example/tenants/payments)", "does not fit in a comment", "Tenants changed: `payments`", "merged onto `main` at `" + tracked[:12] + "`", "the merge base `" + mergeBase[:12] + "`"} {
		if !strings.Contains(body, s) {
			t.Errorf("comment lacks %q", s)
		}
	}
	if strings.Contains(body, "hunter2") || strings.Contains(body, "vvvvvvvvvv") {
		t.Error("the shortened comment prints field values")
	}

	// The same head is not planned again.
	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := api.take(); len(got) != 1 || len(eng.reqs) != 2 {
		t.Errorf("a second pass on the same head called %v and planned %d times", got, len(eng.reqs))
	}

	// The tracked branch moves: a README change re-plans nothing; a tenant
	// change re-plans the merge, edits the comment and keeps the status,
	// which did not change.
	up.WriteFile("README.md", "edited\n")
	up.Commit("README")
	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := api.take(); len(got) != 1 || len(eng.reqs) != 2 {
		t.Errorf("a README change called %v and planned %d times", got, len(eng.reqs))
	}
	up.WriteFile("tenants/checkout/extra.cue", "package k3sync\n")
	tracked = up.Commit("checkout: extra file")
	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"GET /repos/o/r/pulls?base=main&per_page=100&state=open",
		"GET /repos/o/r/compare/" + tracked + "..." + head + "?per_page=1",
		"GET /repos/o/r/issues/7/comments?per_page=100",
		"PATCH /repos/o/r/issues/comments/100",
	}
	if diff := cmp.Diff(want, api.take()); diff != "" || len(eng.reqs) != 4 {
		t.Errorf("after a tenant change on main, %d plans; REST calls (-want +got):\n%s", len(eng.reqs), diff)
	}
	if body := api.comments[0]["body"].(string); !strings.Contains(body, "merged onto `main` at `"+tracked[:12]+"`") {
		t.Error("the comment does not name the new tracked head")
	}

	// Closed: forgotten, and its ref dropped from the clone.
	api.mu.Lock()
	api.pulls = nil
	api.mu.Unlock()
	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if h, _ := loop.Planned(7); h != "" {
		t.Errorf("closed pull request still remembered at %s", h)
	}
	if _, err := src.FS(head); err != nil {
		t.Errorf("the commit itself stays readable: %v", err)
	}
	out, err := exec.CommandContext(ctx, "git", "--git-dir", clone, "show-ref").CombinedOutput()
	if err != nil || strings.Contains(string(out), "refs/k3sync/pull/7/head") || !strings.Contains(string(out), "refs/k3sync/heads/main") {
		t.Errorf("refs of the clone (%v):\n%s", err, out)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestPendingPlanPlansWhoHoldsTheNames: the ownership check plans, on the
// tracked branch, only the tenants whose inventory holds one of the names
// the pull request touches (a removed tenant as removed), each once per
// pass; every tenant when it cannot tell who holds what.
func TestPendingPlanPlansWhoHoldsTheNames(t *testing.T) {
	repo, err := loader.Load(os.DirFS(exampleRepo))
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{fn: func(req plan.Request) *plan.Plan {
		p := &plan.Plan{Revision: req.Revision}
		for _, tr := range req.Tenants {
			p.Changes = append(p.Changes, plan.Change{Key: plan.Key{Tenant: tr.Name(), System: plan.Kafka, Target: "main", Kind: "topic", Name: tr.Name() + ".x"}, Action: plan.Delete})
		}
		return p
	}}
	var asked [][]string
	holders := map[string][]string{"search-indexer": {"gone", "search"}, "payments.orders": {"checkout", "payments", "search"}}
	holdingErr := error(nil)
	l := New(nil, nil, eng, Options{Logger: testLogger(t), Holding: func(_ context.Context, names []string) ([]string, error) {
		asked = append(asked, names)
		var out []string
		for _, n := range names {
			out = append(out, holders[n]...)
		}
		return out, holdingErr
	}})
	requested := func(i int) string {
		var names []string
		for _, tr := range eng.reqs[i].Tenants {
			s := tr.Name()
			if tr.Removed {
				s += " (removed)"
			} else if tr.Model == nil || tr.Desired == nil {
				s += " (no definition)"
			}
			names = append(names, s)
		}
		return fmt.Sprintf("complete=%t %s", eng.reqs[i].Complete, strings.Join(names, ", "))
	}

	ps := &pass{base: &loadedBase{hash: "c1", repo: repo}}
	p := l.pendingPlan(t.Context(), ps, Scope{Tenants: []string{"search-indexer"}}, []string{"search-indexer"})
	if len(eng.reqs) != 1 || requested(0) != "complete=false gone (removed), search" {
		t.Fatalf("first check: %d plans, %s", len(eng.reqs), requested(0))
	}
	if len(p.Changes) != 2 {
		t.Fatalf("pending plan: %+v", p.Changes)
	}
	// A second pull request of the same pass: search is planned already,
	// and the pull request's own tenant is not planned.
	p = l.pendingPlan(t.Context(), ps, Scope{Tenants: []string{"payments"}}, []string{"payments.orders"})
	if len(eng.reqs) != 2 || requested(1) != "complete=false checkout" || len(p.Changes) != 3 {
		t.Fatalf("second check: %d plans, %s, %d pending changes", len(eng.reqs), requested(1), len(p.Changes))
	}
	if diff := cmp.Diff([][]string{{"search-indexer"}, {"payments.orders"}}, asked); diff != "" {
		t.Errorf("names asked (-want +got):\n%s", diff)
	}

	// Who holds what cannot be read: every tenant, once per pass.
	holdingErr = errors.New("state: index: disk I/O error")
	ps = &pass{base: &loadedBase{hash: "c1", repo: repo}}
	l.pendingPlan(t.Context(), ps, Scope{}, []string{"search-indexer"})
	l.pendingPlan(t.Context(), ps, Scope{}, []string{"payments.orders"})
	if len(eng.reqs) != 3 || !eng.reqs[2].Complete || len(eng.reqs[2].Tenants) != len(repo.Tenants) {
		t.Fatalf("with the inventory unreadable: %d plans, last %s", len(eng.reqs), requested(len(eng.reqs)-1))
	}
}

// TestPullRequestOverFetchLimit: a pull request whose branch holds a file
// over the fetch's limit (48 MiB of zeros: kilobytes on the wire) is not
// fetched into the clone: it gets a failed status saying why, once, and
// is not fetched again until its head moves.
func TestPullRequestOverFetchLimit(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	up := gitserver.NewRepo(t, root, "platform.git")
	up.CopyDir(exampleRepo)
	up.Commit("Import the example platform repo")
	up.Git("checkout", "--quiet", "-b", "dump")
	f, err := os.Create(filepath.Join(up.Work, "tenants", "payments", "dump.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(source.DefaultMaxObjectBytes + 16<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	head := up.CommitRef("payments: data dump", "refs/pull/7/head")

	src := cloneOf(t, up)
	api := newGitHubAPI(t)
	api.pulls = []map[string]any{pullRequest(7, "payments: data dump", "alice", head)}
	gh, err := forge.NewGitHub(api.srv.URL, "o/r", "gh-token", api.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{fn: func(req plan.Request) *plan.Plan { return bigPlan(req, 1) }}
	loop := New(gh, src, eng, Options{DashboardURL: "https://k3sync.example", Logger: testLogger(t)})
	for range 2 {
		if err := loop.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"GET /repos/o/r/pulls?base=main&per_page=100&state=open",
		"POST /repos/o/r/statuses/" + head,
		"GET /repos/o/r/pulls?base=main&per_page=100&state=open",
	}
	if diff := cmp.Diff(want, api.take()); diff != "" {
		t.Errorf("REST calls (-want +got):\n%s", diff)
	}
	wantStatuses := []map[string]string{{"sha": head, "context": "k3sync/plan", "state": "failure",
		"description": "Not planned: a file in this branch's history is over k3sync's 32 MiB limit", "target_url": "https://github.com/o/r/pull/7"}}
	if diff := cmp.Diff(wantStatuses, api.statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if len(eng.reqs) != 0 {
		t.Errorf("%d plans of a refused pull request", len(eng.reqs))
	}
}

// TestPullRequestWithManyEmptyFolders: a pull request that adds 400
// folders under tenants/ holding a README.md each (no tenant at the head
// nor on the tracked branch) changes no tenant: its comment says so
// within the forge's limit (this GitHub refuses longer ones, as GitHub
// does), it gets a final status, nothing is planned for every tenant, and
// the next pass leaves it alone.
func TestPullRequestWithManyEmptyFolders(t *testing.T) {
	ctx := t.Context()
	up := gitserver.NewRepo(t, t.TempDir(), "platform.git")
	up.CopyDir(exampleRepo)
	base := up.Commit("Import the example platform repo")
	for i := range 400 {
		up.WriteFile(fmt.Sprintf("tenants/%03d-%s/README.md", i, strings.Repeat("a", 200)), "hi\n")
	}
	head := up.CommitRef("400 folders with no .cue file", "refs/pull/7/head")
	up.Git("reset", "--quiet", "--hard", base)

	src := cloneOf(t, up)
	api := newGitHubAPI(t)
	api.mergeBase = base
	api.pulls = []map[string]any{pullRequest(7, "pr", "mallory", head)}
	api.fault = func(r *http.Request, _ time.Time) (int, http.Header, time.Time) {
		if r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/comments") && r.ContentLength > int64(forge.GitHubMaxComment+len(`{"body":""}`)) {
			return http.StatusUnprocessableEntity, nil, time.Time{}
		}
		return 0, nil, time.Time{}
	}
	gh, err := forge.NewGitHub(api.srv.URL, "o/r", "gh-token", api.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{fn: func(req plan.Request) *plan.Plan { return &plan.Plan{Revision: req.Revision} }}
	loop := New(gh, src, eng, Options{Logger: testLogger(t)})

	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(api.faults) > 0 || len(api.comments) != 1 {
		t.Fatalf("%d comments posted, %d refused", len(api.comments), len(api.faults))
	}
	body := api.comments[0]["body"].(string)
	if len(body) > forge.GitHubMaxComment || !strings.Contains(body, "k3sync: no tenant changes") {
		t.Errorf("comment of %d bytes:\n%.500s", len(body), body)
	}
	if n := len(api.statuses); n == 0 || api.statuses[n-1]["state"] != "success" {
		t.Fatalf("statuses: %v, want a final success", api.statuses)
	}
	for _, req := range eng.reqs {
		if req.Complete {
			t.Errorf("planned every tenant (%d) for folders that are no tenant", len(req.Tenants))
		}
	}

	planned, statuses := len(eng.reqs), len(api.statuses)
	api.take()
	if err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := api.take(); len(got) != 1 || len(eng.reqs) != planned || len(api.statuses) != statuses {
		t.Errorf("a second pass on the same head called %v and planned %d times", got, len(eng.reqs)-planned)
	}
}
