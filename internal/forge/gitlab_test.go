package forge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/config"
)

const (
	glToken   = "glpat-test-token"
	glProject = "infra/platform/k3sync"
	// glAPI is the project's API path: the full path is one segment,
	// slashes escaped.
	glAPI = "/api/v4/projects/infra%2Fplatform%2Fk3sync"
	glSHA = "0123456789abcdef0123456789abcdef01234567"
)

// gitlabAPI wants the PRIVATE-TOKEN header and no Authorization; paths
// keep their escapes (the project's full path is one segment).
var gitlabAPI = forgeAPI{
	escaped: true,
	auth: func(r *http.Request) string {
		if got := r.Header.Get("PRIVATE-TOKEN"); got != glToken {
			return fmt.Sprintf("PRIVATE-TOKEN = %q, want the token", got)
		}
		if got := r.Header.Get("Authorization"); got != "" {
			return fmt.Sprintf("Authorization = %q, want none", got)
		}
		return ""
	},
	notFound: `{"message":"404 Not Found"}`,
}

func newGLRecorder(t *testing.T) (*recorder, *httptest.Server) { return newRecording(t, gitlabAPI) }

func newTestGitLab(t *testing.T, srv *httptest.Server) *GitLab {
	t.Helper()
	gl, err := NewGitLab(srv.URL, glProject, glToken, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return gl
}

func glNote(id, authorID int, username, body string) map[string]any {
	return map[string]any{"id": id, "body": body, "system": false, "author": map[string]any{"id": authorID, "username": username}}
}

func glMR(iid int, title, author, source, target, sha string) map[string]any {
	return map[string]any{
		"id": 90000 + iid, "iid": iid, "title": title, "state": "opened", "sha": sha,
		"source_branch": source, "target_branch": target, "author": map[string]any{"id": 5, "username": author},
		"web_url": "https://gitlab.example/infra/platform/k3sync/-/merge_requests/" + strconv.Itoa(iid),
	}
}

// TestGitLabOpenMergeRequests: every page of the open merge requests into
// the branch, with their iid as the number and diff_refs' base when sent.
func TestGitLabOpenMergeRequests(t *testing.T) {
	rec, srv := newGLRecorder(t)
	gl := newTestGitLab(t, srv)
	rec.on("GET", glAPI+"/merge_requests", func(r *http.Request, _ []byte) (int, any, http.Header) {
		if r.URL.Query().Get("page") == "2" {
			// The last page: no X-Next-Page. A merge request into another
			// branch is dropped, should the server send one.
			return 200, []any{
				glMR(9, "second page", "bob", "b", "main", "bbb"),
				glMR(10, "into release", "bob", "c", "release", "ccc"),
			}, http.Header{"X-Page": {"2"}, "X-Next-Page": {""}}
		}
		mr := glMR(7, "payments: add a topic", "alice", "topic", "main", glSHA)
		mr["diff_refs"] = map[string]any{"base_sha": "mmm", "head_sha": glSHA, "start_sha": "sss"}
		return 200, []any{mr}, http.Header{"X-Page": {"1"}, "X-Next-Page": {"2"}, "X-Per-Page": {"100"}}
	})
	prs, err := gl.OpenPullRequests(t.Context(), "main")
	if err != nil {
		t.Fatal(err)
	}
	want := []PullRequest{
		{Number: 7, HeadSHA: glSHA, HeadRef: "topic", BaseRef: "main", MergeBase: "mmm", Title: "payments: add a topic", Author: "alice", URL: "https://gitlab.example/infra/platform/k3sync/-/merge_requests/7"},
		{Number: 9, HeadSHA: "bbb", HeadRef: "b", BaseRef: "main", Title: "second page", Author: "bob", URL: "https://gitlab.example/infra/platform/k3sync/-/merge_requests/9"},
	}
	if diff := cmp.Diff(want, prs); diff != "" {
		t.Errorf("OpenPullRequests (-want +got):\n%s", diff)
	}
	wantCalls := []call{
		{Method: "GET", Path: glAPI + "/merge_requests", Query: "per_page=100&state=opened&target_branch=main"},
		{Method: "GET", Path: glAPI + "/merge_requests", Query: "page=2&per_page=100&state=opened&target_branch=main"},
	}
	if diff := cmp.Diff(wantCalls, rec.take()); diff != "" {
		t.Errorf("list calls (-want +got):\n%s", diff)
	}

	// Without diff_refs the merge base comes from the repository API.
	rec.on("GET", glAPI+"/repository/merge_base", reply(200, map[string]any{"id": "mmm"}))
	if mb, err := gl.MergeBase(t.Context(), "main", glSHA); err != nil || mb != "mmm" {
		t.Errorf("MergeBase = %q, %v", mb, err)
	}
	if diff := cmp.Diff([]call{{Method: "GET", Path: glAPI + "/repository/merge_base", Query: "refs%5B%5D=main&refs%5B%5D=" + glSHA}}, rec.take()); diff != "" {
		t.Errorf("merge base calls (-want +got):\n%s", diff)
	}

	// A branch name is a query value, escaped as one.
	rec.on("GET", glAPI+"/merge_requests", reply(200, []any{}))
	if _, err := gl.OpenPullRequests(t.Context(), "release/2026 ü&x=y"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]call{{Method: "GET", Path: glAPI + "/merge_requests", Query: "per_page=100&state=opened&target_branch=release%2F2026+%C3%BC%26x%3Dy"}}, rec.take()); diff != "" {
		t.Errorf("list calls (-want +got):\n%s", diff)
	}
}

// TestGitLabStatuses: k3sync's states in GitLab's names, the context as
// the status name.
func TestGitLabStatuses(t *testing.T) {
	rec, srv := newGLRecorder(t)
	gl := newTestGitLab(t, srv)
	rec.on("POST", glAPI+"/statuses/"+glSHA, reply(201, map[string]any{"id": 1}))
	for _, tc := range []struct {
		state State
		want  string
	}{
		{Pending, "pending"},
		{Success, "success"},
		{Failure, "failed"},
		{Error, "failed"},
	} {
		if err := gl.SetStatus(t.Context(), glSHA, Status{Context: ContextPlan, State: tc.state, Description: "2 changes", TargetURL: "https://k3sync.example/tenants/payments"}); err != nil {
			t.Fatal(err)
		}
		want := []call{{Method: "POST", Path: glAPI + "/statuses/" + glSHA,
			Body: `{"state":"` + tc.want + `","name":"k3sync/plan","target_url":"https://k3sync.example/tenants/payments","description":"2 changes"}`}}
		if diff := cmp.Diff(want, rec.take()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.state, diff)
		}
	}

	// The description is cut to 140 characters on one line; no target URL
	// is sent when there is none.
	long := strings.Repeat("x", 200) + "\n\x1b[2J"
	if err := gl.SetStatus(t.Context(), glSHA, Status{Context: ContextApply, State: Success, Description: long}); err != nil {
		t.Fatal(err)
	}
	calls := rec.take()
	var body map[string]string
	if len(calls) != 1 || json.Unmarshal([]byte(calls[0].Body), &body) != nil {
		t.Fatalf("calls: %+v", calls)
	}
	if diff := cmp.Diff(map[string]string{"state": "success", "name": "k3sync/apply", "description": strings.Repeat("x", 139) + "…"}, body); diff != "" {
		t.Errorf("status body (-want +got):\n%s", diff)
	}

	// Pending over pending: GitLab refuses the transition, the status is
	// as asked all the same.
	rec.on("POST", glAPI+"/statuses/"+glSHA, reply(400, map[string]any{"message": `Cannot transition status via :enqueue from :pending (Reason(s): Status cannot transition via "enqueue")`}))
	if err := gl.SetStatus(t.Context(), glSHA, Status{Context: ContextPlan, State: Pending}); err != nil {
		t.Errorf("pending over pending: %v", err)
	}
	// Any other refusal is an error, naming the status, not the token.
	rec.on("POST", glAPI+"/statuses/bad", reply(400, map[string]any{"message": "References for commit bad not found"}))
	err := gl.SetStatus(t.Context(), "bad", Status{Context: ContextPlan, State: Pending})
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "References for commit") || strings.Contains(err.Error(), glToken) {
		t.Errorf("SetStatus error: %v", err)
	}
	rec.on("POST", glAPI+"/statuses/missing", reply(404, map[string]any{"message": "404 Commit Not Found"}))
	err = gl.SetStatus(t.Context(), "missing", Status{Context: ContextPlan, State: Failure})
	if err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), glToken) {
		t.Errorf("SetStatus error: %v", err)
	}
	rec.take()
}

// TestGitLabStickyNote: the note is created once, then edited in place,
// an unchanged body is not written, and notes by others (even under our
// username) or by the system are never touched.
func TestGitLabStickyNote(t *testing.T) {
	rec, srv := newGLRecorder(t)
	gl := newTestGitLab(t, srv)
	const marker = "<!-- k3sync:plan -->"
	const me = 4242
	notes := []any{
		glNote(1, 666, "mallory", marker+"\nfake plan"),
		// Usernames can be changed: identity is the user ID.
		glNote(2, 667, "k3sync-bot", marker+"\nimpostor"),
		map[string]any{"id": 3, "body": "added 1 commit " + marker, "system": true, "author": map[string]any{"id": me, "username": "k3sync-bot"}},
		glNote(4, 5, "alice", "LGTM"),
	}
	notesPath := glAPI + "/merge_requests/7/notes"
	rec.on("GET", "/api/v4/user", reply(200, map[string]any{"id": me, "username": "k3sync-bot"}))
	rec.on("GET", notesPath, func(*http.Request, []byte) (int, any, http.Header) { return 200, notes, nil })
	rec.on("POST", notesPath, func(_ *http.Request, body []byte) (int, any, http.Header) {
		var in map[string]string
		_ = json.Unmarshal(body, &in)
		notes = append(notes, glNote(42, me, "k3sync-bot", in["body"]))
		return 201, notes[len(notes)-1], nil
	})
	rec.on("PUT", notesPath+"/42", func(_ *http.Request, body []byte) (int, any, http.Header) {
		var in map[string]string
		_ = json.Unmarshal(body, &in)
		notes[4] = glNote(42, me, "k3sync-bot", in["body"])
		return 200, notes[4], nil
	})
	for _, body := range []string{marker + "\nplan 1", "plan 2", "plan 2"} {
		if err := gl.UpsertComment(t.Context(), 7, marker, body); err != nil {
			t.Fatal(err)
		}
	}
	const list = "order_by=created_at&per_page=100&sort=asc"
	want := []call{
		{Method: "GET", Path: "/api/v4/user"},
		{Method: "GET", Path: notesPath, Query: list},
		{Method: "POST", Path: notesPath, Body: `{"body":"\u003c!-- k3sync:plan --\u003e\nplan 1"}`},
		{Method: "GET", Path: notesPath, Query: list},
		{Method: "PUT", Path: notesPath + "/42", Body: `{"body":"\u003c!-- k3sync:plan --\u003e\nplan 2"}`},
		{Method: "GET", Path: notesPath, Query: list},
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("note calls (-want +got):\n%s", diff)
	}
	for i, body := range []string{marker + "\nfake plan", marker + "\nimpostor", "added 1 commit " + marker, "LGTM"} {
		if got := notes[i].(map[string]any)["body"]; got != body {
			t.Errorf("note %d was changed: %q", i, got)
		}
	}
}

// TestGitLabStickyNotePaged: our note on the second page is the one
// edited, after someone else's with the marker on the first.
func TestGitLabStickyNotePaged(t *testing.T) {
	rec, srv := newGLRecorder(t)
	gl := newTestGitLab(t, srv)
	const marker = "<!-- k3sync:plan -->"
	notesPath := glAPI + "/merge_requests/12/notes"
	rec.on("GET", "/api/v4/user", reply(200, map[string]any{"id": 7, "username": "k3sync-bot"}))
	rec.on("GET", notesPath, func(r *http.Request, _ []byte) (int, any, http.Header) {
		if r.URL.Query().Get("page") == "2" {
			return 200, []any{glNote(50, 5, "alice", "thanks"), glNote(51, 7, "k3sync-bot", marker+"\nold plan")}, nil
		}
		return 200, []any{glNote(10, 666, "mallory", marker+"\nfake plan")}, http.Header{"X-Next-Page": {"2"}}
	})
	rec.on("PUT", notesPath+"/51", reply(200, glNote(51, 7, "k3sync-bot", marker+"\nnew plan")))
	if err := gl.UpsertComment(t.Context(), 12, marker, "new plan"); err != nil {
		t.Fatal(err)
	}
	want := []call{
		{Method: "GET", Path: "/api/v4/user"},
		{Method: "GET", Path: notesPath, Query: "order_by=created_at&per_page=100&sort=asc"},
		{Method: "GET", Path: notesPath, Query: "order_by=created_at&page=2&per_page=100&sort=asc"},
		{Method: "PUT", Path: notesPath + "/51", Body: `{"body":"\u003c!-- k3sync:plan --\u003e\nnew plan"}`},
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// TestGitLabNoRepeatedPost: a POST that met a 5xx may have been applied;
// it is not sent again (a second note), while a GET is retried.
func TestGitLabNoRepeatedPost(t *testing.T) {
	rec, srv := newGLRecorder(t)
	gl := newTestGitLab(t, srv)
	notesPath := glAPI + "/merge_requests/7/notes"
	rec.on("GET", "/api/v4/user", reply(200, map[string]any{"id": 7, "username": "k3sync-bot"}))
	rec.on("GET", notesPath, reply(200, []any{}))
	rec.on("POST", notesPath, reply(502, map[string]any{"message": "502 Bad Gateway"}))
	err := gl.UpsertComment(t.Context(), 7, "<!-- m -->", "plan")
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("UpsertComment: %v", err)
	}
	var posts int
	for _, c := range rec.take() {
		if c.Method == "POST" {
			posts++
		}
	}
	if posts != 1 {
		t.Errorf("%d POSTs, want 1", posts)
	}

	var gets int
	rec.on("GET", glAPI+"/merge_requests", func(*http.Request, []byte) (int, any, http.Header) {
		gets++
		if gets == 1 {
			return 503, map[string]any{"message": "503 Service Unavailable"}, nil
		}
		return 200, []any{}, nil
	})
	if _, err := gl.OpenPullRequests(t.Context(), "main"); err != nil || gets != 2 {
		t.Errorf("OpenPullRequests after a 503: %v after %d calls", err, gets)
	}
}

func TestGitLabURLs(t *testing.T) {
	for _, tc := range []struct {
		base, project, want string
	}{
		{"", "infra/k3sync", "https://gitlab.com/infra/k3sync/-/blob/abc/tenants/pay%20ments/tenant%20%C3%BC.cue#L3"},
		{"https://gitlab.example", glProject, "https://gitlab.example/infra/platform/k3sync/-/blob/abc/tenants/pay%20ments/tenant%20%C3%BC.cue#L3"},
		{"https://gitlab.example/api/v4/", "a/b/c/platform.v2", "https://gitlab.example/a/b/c/platform.v2/-/blob/abc/tenants/pay%20ments/tenant%20%C3%BC.cue#L3"},
		{"https://example.com/gitlab/", "infra/k3sync", "https://example.com/gitlab/infra/k3sync/-/blob/abc/tenants/pay%20ments/tenant%20%C3%BC.cue#L3"},
	} {
		gl, err := NewGitLab(tc.base, tc.project, glToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := gl.FileURL("abc", "tenants/pay ments/tenant ü.cue", 3); got != tc.want {
			t.Errorf("FileURL = %q, want %q", got, tc.want)
		}
	}
	gl, _ := NewGitLab("", "infra/k3sync", glToken, nil)
	if got, want := gl.FileURL("abc", "tenants/a#b?c.cue", 0), "https://gitlab.com/infra/k3sync/-/blob/abc/tenants/a%23b%3Fc.cue"; got != want {
		t.Errorf("FileURL = %q, want %q", got, want)
	}

	// The API takes the project's full path as one escaped segment, dots
	// included, under a self-managed root served below a path.
	rec, srv := newGLRecorder(t)
	gl, err := NewGitLab(srv.URL+"/gitlab/", "a/b/c/platform.v2", glToken, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	path := "/gitlab/api/v4/projects/a%2Fb%2Fc%2Fplatform%2Ev2/merge_requests"
	rec.on("GET", path, reply(200, []any{}))
	if _, err := gl.OpenPullRequests(t.Context(), "main"); err != nil {
		t.Fatal(err)
	}
	if calls := rec.take(); len(calls) != 1 || calls[0].Path != path {
		t.Errorf("calls: %+v", calls)
	}

	for _, p := range []string{"", "k3sync", "/infra/k3sync", "infra/k3sync/", "infra//k3sync", "infra/../k3sync", "infra/./k3sync"} {
		if _, err := NewGitLab("https://gitlab.example", p, glToken, nil); err == nil {
			t.Errorf("project %q accepted", p)
		}
	}
	for _, u := range []string{"gitlab.example", "ftp://gitlab.example", "https://"} {
		if _, err := NewGitLab(u, glProject, glToken, nil); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
}

// TestGitLabCommentLength: GitLab's limit is in characters, comments are
// bounded in bytes: a body of the limit's length in bytes is within it
// whatever its characters.
func TestGitLabCommentLength(t *testing.T) {
	gl, err := NewGitLab("", glProject, glToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	if gl.MaxCommentLength() != 1_000_000 {
		t.Errorf("MaxCommentLength = %d", gl.MaxCommentLength())
	}
	body := strings.Repeat("é", gl.MaxCommentLength()/2)
	if len(body) > gl.MaxCommentLength() || utf8.RuneCountInString(body) > 1_000_000 {
		t.Errorf("%d bytes, %d characters", len(body), utf8.RuneCountInString(body))
	}
}

// TestPullRef: merge request heads are refs/merge-requests/<iid>/head,
// fork or not; pull request heads elsewhere refs/pull/<n>/head.
func TestPullRef(t *testing.T) {
	gl, _ := NewGitLab("", glProject, glToken, nil)
	gh, _ := NewGitHub("", "o/r", testToken, nil)
	gt, _ := NewGitea("https://gitea.example", "o/r", testToken, nil)
	for f, want := range map[Forge]string{gl: "refs/merge-requests/7/head", gh: "refs/pull/7/head", gt: "refs/pull/7/head"} {
		if got := f.PullRef(7); got != want {
			t.Errorf("%T: PullRef = %q, want %q", f, got, want)
		}
	}
}

func TestNewGitLab(t *testing.T) {
	t.Setenv("K3SYNC_TEST_GITLAB_TOKEN", glToken)
	f, err := New(config.Forge{Kind: config.ForgeGitLab, Repo: glProject, Token: config.Secret{TokenEnv: "K3SYNC_TEST_GITLAB_TOKEN"}})
	if err != nil {
		t.Fatal(err)
	}
	gl, ok := f.(*GitLab)
	if !ok || gl.web != DefaultGitLabURL || gl.project != glProject {
		t.Fatalf("New = %#v", f)
	}
	if _, err := New(config.Forge{Kind: config.ForgeGitLab, Repo: "k3sync", Token: config.Secret{TokenEnv: "K3SYNC_TEST_GITLAB_TOKEN"}}); err == nil {
		t.Error("a project without a group was accepted")
	}
}
