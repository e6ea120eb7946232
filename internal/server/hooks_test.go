package server_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
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
		{"github too large", githubHook("push", strings.Repeat(" ", 6<<20), "sha256=00"), 413, nil, nil},
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
