package forge

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// call is one request the recording server got.
type call struct {
	Method, Path, Query string
	Body                string
}

// recorder is a forge API stand-in that records every request, checks
// its token and answers from a table keyed by "METHOD path".
type recorder struct {
	mu      sync.Mutex
	calls   []call
	answers map[string]func(r *http.Request, body []byte) (int, any, http.Header)
}

const testToken = "ghp_test-token"

// forgeAPI is what a recording server checks and answers as: how it
// names paths, the authentication it wants, its 404 body.
type forgeAPI struct {
	// escaped: paths as sent, escapes kept (GitLab's project IDs).
	escaped bool
	// auth says what is wrong with a request's credentials, or "".
	auth     func(r *http.Request) string
	notFound string
}

// githubAPI wants GitHub's bearer token.
var githubAPI = forgeAPI{
	auth: func(r *http.Request) string {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			return fmt.Sprintf("Authorization = %q, want the bearer token", got)
		}
		return ""
	},
	notFound: `{"message":"Not Found"}`,
}

func newRecorder(t *testing.T) (*recorder, *httptest.Server) { return newRecording(t, githubAPI) }

func newRecording(t *testing.T, api forgeAPI) (*recorder, *httptest.Server) {
	rec := &recorder{answers: map[string]func(*http.Request, []byte) (int, any, http.Header){}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		path := r.URL.Path
		if api.escaped {
			path = r.URL.EscapedPath()
		}
		rec.mu.Lock()
		rec.calls = append(rec.calls, call{Method: r.Method, Path: path, Query: r.URL.RawQuery, Body: string(body)})
		answer := rec.answers[r.Method+" "+path]
		rec.mu.Unlock()
		if why := api.auth(r); why != "" {
			t.Errorf("%s %s: %s", r.Method, path, why)
			http.Error(w, `{"message":"401 Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		if answer == nil {
			t.Errorf("unexpected request %s %s?%s", r.Method, path, r.URL.RawQuery)
			http.Error(w, api.notFound, http.StatusNotFound)
			return
		}
		code, out, h := answer(r, body)
		for k, v := range h {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return rec, srv
}

func (r *recorder) on(method, path string, fn func(r *http.Request, body []byte) (int, any, http.Header)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[method+" "+path] = fn
}

// take returns the calls so far and forgets them.
func (r *recorder) take() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

func reply(code int, v any) func(*http.Request, []byte) (int, any, http.Header) {
	return func(*http.Request, []byte) (int, any, http.Header) { return code, v, nil }
}

func ghComment(id int, login, body string) map[string]any {
	return map[string]any{"id": id, "body": body, "user": map[string]any{"login": login}}
}

func TestGitHubRESTCalls(t *testing.T) {
	rec, srv := newRecorder(t)
	ctx := t.Context()
	gh, err := NewGitHub(srv.URL+"/api/v3", "o/r", testToken, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	const sha = "0123456789abcdef0123456789abcdef01234567"

	// Open pull requests, two pages: the Link header leads to the second.
	rec.on("GET", "/api/v3/repos/o/r/pulls", func(r *http.Request, _ []byte) (int, any, http.Header) {
		if r.URL.Query().Get("page") == "2" {
			return 200, []any{map[string]any{"number": 9, "title": "second page", "html_url": "https://github.com/o/r/pull/9",
				"user": map[string]any{"login": "bob"}, "head": map[string]any{"ref": "b", "sha": "bbb"}, "base": map[string]any{"ref": "main"}}}, nil
		}
		next := fmt.Sprintf(`<%s/api/v3/repos/o/r/pulls?base=main&page=2&per_page=100&state=open>; rel="next"`, srv.URL)
		return 200, []any{map[string]any{"number": 7, "title": "payments: add a topic", "html_url": "https://github.com/o/r/pull/7",
			"user": map[string]any{"login": "alice"}, "head": map[string]any{"ref": "topic", "sha": sha}, "base": map[string]any{"ref": "main"}}}, http.Header{"Link": {next}}
	})
	prs, err := gh.OpenPullRequests(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	want := []PullRequest{
		{Number: 7, HeadSHA: sha, HeadRef: "topic", BaseRef: "main", Title: "payments: add a topic", Author: "alice", URL: "https://github.com/o/r/pull/7"},
		{Number: 9, HeadSHA: "bbb", HeadRef: "b", BaseRef: "main", Title: "second page", Author: "bob", URL: "https://github.com/o/r/pull/9"},
	}
	if diff := cmp.Diff(want, prs); diff != "" {
		t.Errorf("OpenPullRequests (-want +got):\n%s", diff)
	}
	wantCalls := []call{
		{Method: "GET", Path: "/api/v3/repos/o/r/pulls", Query: "base=main&per_page=100&state=open"},
		{Method: "GET", Path: "/api/v3/repos/o/r/pulls", Query: "base=main&page=2&per_page=100&state=open"},
	}
	if diff := cmp.Diff(wantCalls, rec.take()); diff != "" {
		t.Errorf("list calls (-want +got):\n%s", diff)
	}

	// A status: the description is cut to 140 characters.
	rec.on("POST", "/api/v3/repos/o/r/statuses/"+sha, reply(201, map[string]any{"id": 1}))
	long := strings.Repeat("x", 200)
	if err := gh.SetStatus(ctx, sha, Status{Context: ContextPlan, State: Success, Description: long, TargetURL: "https://k3sync.example/tenants/payments"}); err != nil {
		t.Fatal(err)
	}
	calls := rec.take()
	if len(calls) != 1 || calls[0].Method != "POST" || calls[0].Path != "/api/v3/repos/o/r/statuses/"+sha {
		t.Fatalf("status calls: %+v", calls)
	}
	var st map[string]string
	if err := json.Unmarshal([]byte(calls[0].Body), &st); err != nil {
		t.Fatal(err)
	}
	wantStatus := map[string]string{"context": "k3sync/plan", "state": "success", "description": strings.Repeat("x", 139) + "…", "target_url": "https://k3sync.example/tenants/payments"}
	if diff := cmp.Diff(wantStatus, st); diff != "" {
		t.Errorf("status body (-want +got):\n%s", diff)
	}

	// The sticky comment: someone else's comment with the marker is left
	// alone; ours is created once, then edited; an unchanged body is not
	// written.
	const marker = "<!-- k3sync:plan -->"
	comments := []any{ghComment(1, "mallory", marker+"\nfake plan"), ghComment(2, "alice", "LGTM")}
	rec.on("GET", "/api/v3/user", reply(200, map[string]any{"login": "k3sync-bot"}))
	rec.on("GET", "/api/v3/repos/o/r/issues/7/comments", func(*http.Request, []byte) (int, any, http.Header) { return 200, comments, nil })
	rec.on("POST", "/api/v3/repos/o/r/issues/7/comments", func(_ *http.Request, body []byte) (int, any, http.Header) {
		var in map[string]string
		_ = json.Unmarshal(body, &in)
		comments = append(comments, ghComment(42, "k3sync-bot", in["body"]))
		return 201, comments[len(comments)-1], nil
	})
	rec.on("PATCH", "/api/v3/repos/o/r/issues/comments/42", func(_ *http.Request, body []byte) (int, any, http.Header) {
		var in map[string]string
		_ = json.Unmarshal(body, &in)
		comments[2] = ghComment(42, "k3sync-bot", in["body"])
		return 200, comments[2], nil
	})
	for _, body := range []string{marker + "\nplan 1", "plan 2", "plan 2"} {
		if err := gh.UpsertComment(ctx, 7, marker, body); err != nil {
			t.Fatal(err)
		}
	}
	wantCalls = []call{
		{Method: "GET", Path: "/api/v3/user"},
		{Method: "GET", Path: "/api/v3/repos/o/r/issues/7/comments", Query: "per_page=100"},
		{Method: "POST", Path: "/api/v3/repos/o/r/issues/7/comments", Body: `{"body":"<!-- k3sync:plan -->\nplan 1"}` + "\n"},
		{Method: "GET", Path: "/api/v3/repos/o/r/issues/7/comments", Query: "per_page=100"},
		{Method: "PATCH", Path: "/api/v3/repos/o/r/issues/comments/42", Body: `{"body":"<!-- k3sync:plan -->\nplan 2"}` + "\n"},
		{Method: "GET", Path: "/api/v3/repos/o/r/issues/7/comments", Query: "per_page=100"},
	}
	if diff := cmp.Diff(wantCalls, rec.take()); diff != "" {
		t.Errorf("comment calls (-want +got):\n%s", diff)
	}
	if got := comments[0].(map[string]any)["body"]; got != marker+"\nfake plan" {
		t.Errorf("someone else's comment was changed: %q", got)
	}

	// The merge base comes from the compare API.
	rec.on("GET", "/api/v3/repos/o/r/compare/main..."+sha, reply(200, map[string]any{"merge_base_commit": map[string]any{"sha": "mmm"}}))
	if mb, err := gh.MergeBase(ctx, "main", sha); err != nil || mb != "mmm" {
		t.Errorf("MergeBase = %q, %v", mb, err)
	}
	if diff := cmp.Diff([]call{{Method: "GET", Path: "/api/v3/repos/o/r/compare/main..." + sha, Query: "per_page=1"}}, rec.take()); diff != "" {
		t.Errorf("compare calls (-want +got):\n%s", diff)
	}

	// Errors name the call and the status, never the token.
	rec.on("POST", "/api/v3/repos/o/r/statuses/bad", reply(422, map[string]any{"message": "No commit found for SHA: bad"}))
	err = gh.SetStatus(ctx, "bad", Status{Context: ContextPlan, State: Pending})
	if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "No commit found") || strings.Contains(err.Error(), testToken) {
		t.Errorf("SetStatus error: %v", err)
	}
	rec.take()
}

// TestGitHubAppComments: an installation token may not read /user, and
// other bots post too: a workflow of the pull request's author posts as
// github-actions[bot], and may copy k3sync's marker into its comment to
// have k3sync edit it (or fail to) instead of posting its plan. k3sync
// edits only its own account's comments: the configured login, else the
// one its first created comment shows.
func TestGitHubAppComments(t *testing.T) {
	const marker = "<!-- k3sync:plan -->"
	spoof := map[string]any{"id": 3, "body": marker + "\n## k3sync plan: no changes", "user": map[string]any{"login": "github-actions[bot]", "type": "Bot"}}
	human := map[string]any{"id": 4, "body": marker + "\nquoted", "user": map[string]any{"login": "alice", "type": "User"}}
	ours := map[string]any{"id": 5, "body": marker + "\nold", "user": map[string]any{"login": "k3sync[bot]", "type": "Bot"}}
	t.Run("configured login", func(t *testing.T) {
		rec, srv := newRecorder(t)
		gh, err := NewGitHub(srv.URL, "o/r", testToken, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		gh.SetLogin("k3sync[bot]")
		rec.on("GET", "/repos/o/r/issues/7/comments", reply(200, []any{spoof, human, ours}))
		rec.on("PATCH", "/repos/o/r/issues/comments/5", reply(200, ours))
		if err := gh.UpsertComment(t.Context(), 7, marker, "new"); err != nil {
			t.Fatal(err)
		}
		want := []call{
			{Method: "GET", Path: "/repos/o/r/issues/7/comments", Query: "per_page=100"},
			{Method: "PATCH", Path: "/repos/o/r/issues/comments/5", Body: `{"body":"<!-- k3sync:plan -->\nnew"}` + "\n"},
		}
		if diff := cmp.Diff(want, rec.take()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})
	t.Run("login learnt from the comment it creates", func(t *testing.T) {
		rec, srv := newRecorder(t)
		gh, err := NewGitHub(srv.URL, "o/r", testToken, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		rec.on("GET", "/user", reply(403, map[string]any{"message": "Resource not accessible by integration"}))
		rec.on("GET", "/repos/o/r/issues/7/comments", reply(200, []any{spoof, human}))
		rec.on("POST", "/repos/o/r/issues/7/comments", reply(201, ours))
		if err := gh.UpsertComment(t.Context(), 7, marker, "new"); err != nil {
			t.Fatal(err)
		}
		rec.on("GET", "/repos/o/r/issues/7/comments", reply(200, []any{spoof, human, ours}))
		rec.on("PATCH", "/repos/o/r/issues/comments/5", reply(200, ours))
		if err := gh.UpsertComment(t.Context(), 7, marker, "newer"); err != nil {
			t.Fatal(err)
		}
		want := []call{
			{Method: "GET", Path: "/user"},
			{Method: "GET", Path: "/repos/o/r/issues/7/comments", Query: "per_page=100"},
			{Method: "POST", Path: "/repos/o/r/issues/7/comments", Body: `{"body":"<!-- k3sync:plan -->\nnew"}` + "\n"},
			{Method: "GET", Path: "/repos/o/r/issues/7/comments", Query: "per_page=100"},
			{Method: "PATCH", Path: "/repos/o/r/issues/comments/5", Body: `{"body":"<!-- k3sync:plan -->\nnewer"}` + "\n"},
		}
		if diff := cmp.Diff(want, rec.take()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})
}

func TestFileURLs(t *testing.T) {
	gh, err := NewGitHub("", "o/r", testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	ghe, err := NewGitHub("https://ghe.example/api/v3/", "o/r", testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	gt, err := NewGitea("https://gitea.example/api/v1", "o/r", testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    Forge
		want string
	}{
		{gh, "https://github.com/o/r/blob/abc/tenants/pay%20ments/tenant.cue#L3"},
		{ghe, "https://ghe.example/o/r/blob/abc/tenants/pay%20ments/tenant.cue#L3"},
		{gt, "https://gitea.example/o/r/src/commit/abc/tenants/pay%20ments/tenant.cue#L3"},
	} {
		if got := tc.f.FileURL("abc", "tenants/pay ments/tenant.cue", 3); got != tc.want {
			t.Errorf("FileURL = %q, want %q", got, tc.want)
		}
	}
	if gh.MaxCommentLength() != 65535 {
		t.Errorf("GitHub MaxCommentLength = %d", gh.MaxCommentLength())
	}
}

func TestDescription(t *testing.T) {
	for in, want := range map[string]string{
		"short":                             "short",
		"two\nlines  and   spaces":          "two lines and spaces",
		"topic \"x\x1b[2J\u202e\u2028y\"":   `topic "x\x1b[2J\u202e y"`,
		strings.Repeat("é", 141):            strings.Repeat("é", 139) + "…",
		strings.Repeat("a", MaxDescription): strings.Repeat("a", MaxDescription),
	} {
		if got := Description(in); got != want {
			t.Errorf("Description(%q) = %q, want %q", in, got, want)
		}
	}
}
