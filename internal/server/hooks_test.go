package server_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/server"
)

func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

const (
	pushMain = `{"ref": "refs/heads/main", "before": "0000", "after": "abc123", "repository": {"full_name": "platform/tenants"}}`
	pushTag  = `{"ref": "refs/tags/v1.0.0", "after": "abc123"}`
	prOpened = `{"action": "opened", "number": 7, "pull_request": {"number": 7, "head": {"sha": "def456", "ref": "feature"}}}`
	// Gitea's synchronize action has its own spelling.
	giteaPRSync = `{"action": "synchronized", "number": 12, "pull_request": {"number": 12, "head": {"sha": "fedcba", "ref": "feature"}}}`
)

func githubHook(event, body, sig string) request {
	return request{method: "POST", path: "/hooks/github", body: body, header: http.Header{
		"X-Github-Event": {event}, "X-Hub-Signature-256": {sig}, "X-Github-Delivery": {"d-1"}, "Content-Type": {"application/json"},
	}}
}

func giteaHook(event, body, sig string) request {
	return request{method: "POST", path: "/hooks/gitea", body: body, header: http.Header{
		"X-Gitea-Event": {event}, "X-Gitea-Signature": {sig}, "X-Gitea-Delivery": {"d-2"}, "Content-Type": {"application/json"},
	}}
}

func TestWebhooks(t *testing.T) {
	form := url.Values{"payload": {pushMain}}.Encode()
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantPushes []string
		wantPRs    []prCall
	}{
		{"github push", githubHook("push", pushMain, "sha256="+sign(githubSecret, pushMain)), 202, []string{"main"}, nil},
		{"github push as form", func() request {
			r := githubHook("push", form, "sha256="+sign(githubSecret, form))
			r.header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}(), 202, []string{"main"}, nil},
		{"github tag push ignored", githubHook("push", pushTag, "sha256="+sign(githubSecret, pushTag)), 200, nil, nil},
		{"github pull request", githubHook("pull_request", prOpened, "sha256="+sign(githubSecret, prOpened)), 202, nil, []prCall{{7, "opened", "def456"}}},
		{"github ping", githubHook("ping", `{"zen": "Keep it logically awesome."}`, "sha256="+sign(githubSecret, `{"zen": "Keep it logically awesome."}`)), 200, nil, nil},
		{"github other event ignored", githubHook("issues", `{}`, "sha256="+sign(githubSecret, `{}`)), 200, nil, nil},
		{"github wrong secret", githubHook("push", pushMain, "sha256="+sign("guess", pushMain)), 401, nil, nil},
		{"github signature of another body", githubHook("push", pushMain, "sha256="+sign(githubSecret, pushTag)), 401, nil, nil},
		{"github gitea-style signature", githubHook("push", pushMain, sign(githubSecret, pushMain)), 401, nil, nil},
		{"github sha1 signature", githubHook("push", pushMain, "sha1=abcdef"), 401, nil, nil},
		{"github no signature", githubHook("push", pushMain, ""), 401, nil, nil},
		{"github no event", githubHook("", pushMain, "sha256="+sign(githubSecret, pushMain)), 400, nil, nil},
		{"github bad json", githubHook("push", `{`, "sha256="+sign(githubSecret, `{`)), 400, nil, nil},
		{"github too large", githubHook("push", strings.Repeat(" ", 6<<20), "sha256="+strings.Repeat("00", 32)), 413, nil, nil},
		{"github too large without a signature", githubHook("push", strings.Repeat(" ", 6<<20), "sha256=00"), 401, nil, nil},
		{"gitea push", giteaHook("push", pushMain, sign(giteaSecret, pushMain)), 202, []string{"main"}, nil},
		{"gitea pull request", giteaHook("pull_request", giteaPRSync, sign(giteaSecret, giteaPRSync)), 202, nil, []prCall{{12, "synchronized", "fedcba"}}},
		{"gitea signed with the github secret", giteaHook("push", pushMain, sign(githubSecret, pushMain)), 401, nil, nil},
		{"gitea prefixed signature", giteaHook("push", pushMain, "sha256="+sign(giteaSecret, pushMain)), 401, nil, nil},
		{"gitea no signature", giteaHook("push", pushMain, ""), 401, nil, nil},
		{"get is not a delivery", request{method: "GET", path: "/hooks/github"}, 405, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hooks := &fakeHooks{}
			h := newServer(t, newFakeBackend(), hooks).Handler()
			rec := serve(t, h, tt.req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if diff := cmp.Diff(tt.wantPushes, hooks.pushes); diff != "" {
				t.Errorf("pushes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPRs, hooks.prs); diff != "" {
				t.Errorf("pull requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWebhooksDisabled(t *testing.T) {
	cfg := testConfig(t)
	cfg.Webhooks = config.Webhooks{}
	hooks := &fakeHooks{}
	s, err := server.New(cfg, newFakeBackend(), hooks)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []request{
		githubHook("push", pushMain, "sha256="+sign("", pushMain)),
		giteaHook("push", pushMain, sign("", pushMain)),
	} {
		if rec := serve(t, s.Handler(), r); rec.Code != 404 {
			t.Errorf("%s with no secret configured: %d %s", r.path, rec.Code, rec.Body)
		}
	}
	// Without Hooks the endpoints are off too, secrets or not.
	if rec := serve(t, newServer(t, newFakeBackend(), nil).Handler(), githubHook("push", pushMain, "sha256="+sign(githubSecret, pushMain))); rec.Code != 404 {
		t.Errorf("nil hooks: %d", rec.Code)
	}
	if len(hooks.pushes) > 0 {
		t.Errorf("pushes %v", hooks.pushes)
	}
}

const (
	gitlabSecret = "gitlab-hook-secret"
	// GitLab's push carries the same ref as GitHub's.
	gitlabPush    = `{"object_kind": "push", "event_name": "push", "ref": "refs/heads/main", "after": "abc123", "project": {"path_with_namespace": "infra/platform/k3sync"}}`
	gitlabTagPush = `{"object_kind": "tag_push", "ref": "refs/tags/v1.0.0", "after": "abc123"}`
)

// gitlabMR is a Merge Request Hook: iid is the merge request's number in
// its project, id is global and must not be taken for it.
func gitlabMR(action string) string {
	return `{"object_kind": "merge_request", "event_type": "merge_request", "user": {"username": "alice"},
  "project": {"path_with_namespace": "infra/platform/k3sync"},
  "object_attributes": {"id": 99017, "iid": 7, "action": "` + action + `", "state": "opened",
    "source_branch": "feature", "target_branch": "main", "last_commit": {"id": "def456"}}}`
}

func gitlabHook(event, body, token string) request {
	h := http.Header{"X-Gitlab-Event": {event}, "X-Gitlab-Event-Uuid": {"d-3"}, "Content-Type": {"application/json"}}
	if token != "" {
		h.Set("X-Gitlab-Token", token)
	}
	return request{method: "POST", path: "/hooks/gitlab", body: body, header: h}
}

// newGitLabServer is newServer with GitLab's webhook secret configured.
func newGitLabServer(t *testing.T, hooks server.Hooks) *server.Server {
	t.Helper()
	cfg := testConfig(t)
	cfg.Webhooks.GitLab = config.Secret{SecretFile: secretFile(t, "gitlab", gitlabSecret)}
	s, err := server.New(cfg, newFakeBackend(), hooks)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGitLabWebhooks(t *testing.T) {
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantPushes []string
		wantPRs    []prCall
	}{
		{"push", gitlabHook("Push Hook", gitlabPush, gitlabSecret), 202, []string{"main"}, nil},
		{"tag push ignored", gitlabHook("Tag Push Hook", gitlabTagPush, gitlabSecret), 200, nil, nil},
		{"push of a tag ref ignored", gitlabHook("Push Hook", gitlabTagPush, gitlabSecret), 200, nil, nil},
		{"merge request opened", gitlabHook("Merge Request Hook", gitlabMR("open"), gitlabSecret), 202, nil, []prCall{{7, "open", "def456"}}},
		{"merge request updated", gitlabHook("Merge Request Hook", gitlabMR("update"), gitlabSecret), 202, nil, []prCall{{7, "update", "def456"}}},
		{"merge request reopened", gitlabHook("Merge Request Hook", gitlabMR("reopen"), gitlabSecret), 202, nil, []prCall{{7, "reopen", "def456"}}},
		{"merge request closed ignored", gitlabHook("Merge Request Hook", gitlabMR("close"), gitlabSecret), 200, nil, nil},
		{"merge request approved ignored", gitlabHook("Merge Request Hook", gitlabMR("approved"), gitlabSecret), 200, nil, nil},
		{"merge request without iid", gitlabHook("Merge Request Hook", `{"object_attributes": {"id": 99017, "action": "open"}}`, gitlabSecret), 400, nil, nil},
		{"other event ignored", gitlabHook("Note Hook", `{"object_kind": "note"}`, gitlabSecret), 200, nil, nil},
		{"github's event name ignored", gitlabHook("push", gitlabPush, gitlabSecret), 200, nil, nil},
		{"wrong token", gitlabHook("Push Hook", gitlabPush, "guess"), 401, nil, nil},
		{"token with a trailing space", gitlabHook("Push Hook", gitlabPush, gitlabSecret+" "), 401, nil, nil},
		{"token prefix", gitlabHook("Push Hook", gitlabPush, gitlabSecret[:len(gitlabSecret)-1]), 401, nil, nil},
		{"the github secret", gitlabHook("Push Hook", gitlabPush, githubSecret), 401, nil, nil},
		{"no token", gitlabHook("Push Hook", gitlabPush, ""), 401, nil, nil},
		{"an HMAC is not the token", func() request {
			r := gitlabHook("Push Hook", gitlabPush, "")
			r.header.Set("X-Hub-Signature-256", "sha256="+sign(gitlabSecret, gitlabPush))
			return r
		}(), 401, nil, nil},
		{"no event", gitlabHook("", gitlabPush, gitlabSecret), 400, nil, nil},
		{"bad json", gitlabHook("Merge Request Hook", `{`, gitlabSecret), 400, nil, nil},
		{"too large", gitlabHook("Push Hook", strings.Repeat(" ", 6<<20), gitlabSecret), 413, nil, nil},
		{"too large without the token", gitlabHook("Push Hook", strings.Repeat(" ", 6<<20), "guess"), 401, nil, nil},
		{"get is not a delivery", request{method: "GET", path: "/hooks/gitlab", header: http.Header{"X-Gitlab-Token": {gitlabSecret}}}, 405, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hooks := &fakeHooks{}
			rec := serve(t, newGitLabServer(t, hooks).Handler(), tt.req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if strings.Contains(rec.Body.String(), gitlabSecret) {
				t.Errorf("the answer shows the secret: %s", rec.Body)
			}
			if diff := cmp.Diff(tt.wantPushes, hooks.pushes); diff != "" {
				t.Errorf("pushes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPRs, hooks.prs); diff != "" {
				t.Errorf("pull requests (-want +got):\n%s", diff)
			}
		})
	}
}

// countingReader counts the bytes read from a request body.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestGitLabWebhookTokenFirst: without the token, not a byte of the body
// is read.
func TestGitLabWebhookTokenFirst(t *testing.T) {
	h := newGitLabServer(t, &fakeHooks{}).Handler()
	for _, token := range []string{"", "guess"} {
		body := &countingReader{r: strings.NewReader(gitlabMR("open"))}
		req := httptest.NewRequestWithContext(t.Context(), "POST", "/hooks/gitlab", body)
		req.Header.Set("X-Gitlab-Event", "Merge Request Hook")
		if token != "" {
			req.Header.Set("X-Gitlab-Token", token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 401 || body.n.Load() != 0 {
			t.Errorf("token %q: status %d after reading %d bytes, want 401 after none", token, rec.Code, body.n.Load())
		}
	}
}

// TestWebhookSignatureFirst: a GitHub or Gitea delivery without a
// well-formed signature is refused before a byte of its body is read, as
// GitLab's without its token.
func TestWebhookSignatureFirst(t *testing.T) {
	h := newServer(t, newFakeBackend(), &fakeHooks{}).Handler()
	for _, tc := range []struct{ path, header, value string }{
		{"/hooks/github", "", ""},
		{"/hooks/github", "X-Hub-Signature-256", "sha256=zz"},
		{"/hooks/github", "X-Hub-Signature-256", "sha1=" + strings.Repeat("ab", 20)},
		{"/hooks/gitea", "X-Gitea-Signature", strings.Repeat("ab", 16)},
	} {
		body := &countingReader{r: strings.NewReader(strings.Repeat("x", 1<<20))}
		req := httptest.NewRequestWithContext(t.Context(), "POST", tc.path, body)
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Gitea-Event", "push")
		if tc.header != "" {
			req.Header.Set(tc.header, tc.value)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 401 || body.n.Load() != 0 {
			t.Errorf("%s %s %q: status %d after reading %d bytes, want 401 after none", tc.path, tc.header, tc.value, rec.Code, body.n.Load())
		}
	}
}

// TestGitLabWebhooksDisabled: without GitLab's secret its endpoint is off,
// whatever token is sent.
func TestGitLabWebhooksDisabled(t *testing.T) {
	hooks := &fakeHooks{}
	for _, r := range []request{gitlabHook("Push Hook", gitlabPush, gitlabSecret), gitlabHook("Push Hook", gitlabPush, "")} {
		if rec := serve(t, newServer(t, newFakeBackend(), hooks).Handler(), r); rec.Code != 404 {
			t.Errorf("no gitlab secret: %d %s", rec.Code, rec.Body)
		}
	}
	if rec := serve(t, newGitLabServer(t, nil).Handler(), gitlabHook("Push Hook", gitlabPush, gitlabSecret)); rec.Code != 404 {
		t.Errorf("nil hooks: %d", rec.Code)
	}
	if len(hooks.pushes) > 0 {
		t.Errorf("pushes %v", hooks.pushes)
	}
}
