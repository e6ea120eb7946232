package gitea_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/k3sync/k3sync/internal/testenv/gitea"
)

// delivery is one webhook request as the receiver got it.
type delivery struct {
	event, eventType, signature string
	body                        []byte
}

// receiver is a webhook endpoint that records every delivery.
type receiver struct {
	mu         sync.Mutex
	deliveries []delivery
	arrived    chan struct{} // signalled (without blocking) on each delivery
}

func newReceiver(t *testing.T) (*receiver, string) {
	r := &receiver{arrived: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.deliveries = append(r.deliveries, delivery{
			event:     req.Header.Get("X-Gitea-Event"),
			eventType: req.Header.Get("X-Gitea-Event-Type"),
			signature: req.Header.Get("X-Gitea-Signature"),
			body:      body,
		})
		r.mu.Unlock()
		select {
		case r.arrived <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL + "/hooks/gitea"
}

// waitFor returns the first delivery match accepts, waiting up to timeout.
func (r *receiver) waitFor(t *testing.T, timeout time.Duration, what string, match func(delivery) bool) delivery {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		for _, d := range r.deliveries {
			if match(d) {
				r.mu.Unlock()
				return d
			}
		}
		n := len(r.deliveries)
		r.mu.Unlock()
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("webhook: no %s delivered after %s (%d other deliveries)", what, timeout, n)
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

func (r *receiver) all() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.deliveries...)
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// git runs the git CLI in dir, isolated from the user's and the system's
// configuration, and returns its trimmed standard output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", append([]string{
		"-c", "user.name=k3sync test", "-c", "user.email=test@example.com",
		"-c", "init.defaultBranch=main", "-c", "protocol.version=2",
	}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// lsRemote returns the SHA ref points at in repo, "" if it does not exist.
func lsRemote(t *testing.T, s *gitea.Server, repo, ref string) string {
	t.Helper()
	out := git(t, t.TempDir(), "ls-remote", s.GitURL(repo), ref)
	sha, _, _ := strings.Cut(out, "\t")
	return sha
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

// TestPullRequestLifecycle plays what k3sync does on a pull request against
// a real Gitea: a PR is opened, a commit status and a sticky comment are
// posted and updated, and a push to the PR branch is announced by a signed
// webhook.
func TestPullRequestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := gitea.StartT(t)

	var version struct {
		Version string `json:"version"`
	}
	if err := s.API(ctx, http.MethodGet, "/version", nil, &version); err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(gitea.Version, "v"); version.Version != want {
		t.Errorf("GET /version = %q, want %q", version.Version, want)
	}

	repo, err := s.CreateRepo(ctx, "platform")
	if err != nil {
		t.Fatal(err)
	}
	if want := s.AdminUser + "/platform"; repo.FullName != want || repo.DefaultBranch != "main" {
		t.Fatalf("CreateRepo = %+v, want %s on branch main", repo, want)
	}

	const secret = "webhook-secret"
	hooks, hookURL := newReceiver(t)
	if _, err := s.CreateWebhook(ctx, repo.FullName, hookURL, secret, []string{"push", "pull_request"}); err != nil {
		t.Fatal(err)
	}

	sha1, err := s.CommitFiles(ctx, repo.FullName, gitea.Commit{
		NewBranch: "plan-1",
		Message:   "payments: add topic",
		Files:     map[string]string{"tenants/payments/kafka.cue": "topics: orders: partitions: 3\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := s.CreatePullRequest(ctx, repo.FullName, "plan-1", "main", "payments: add topic")
	if err != nil {
		t.Fatal(err)
	}
	if pr.Number < 1 || pr.HeadSHA != sha1 || pr.HeadRef != "plan-1" || pr.BaseRef != "main" || pr.State != "open" {
		t.Fatalf("CreatePullRequest = %+v, want open plan-1 -> main at %s", pr, sha1)
	}
	pullRef := fmt.Sprintf("refs/pull/%d/head", pr.Number)
	if got := lsRemote(t, s, repo.FullName, pullRef); got != sha1 {
		t.Errorf("git ls-remote %s = %q, want %s", pullRef, got, sha1)
	}

	t.Run("commit status", func(t *testing.T) {
		statusPath := fmt.Sprintf("/repos/%s/statuses/%s", repo.FullName, sha1)
		for _, state := range []string{"pending", "success"} {
			err := s.API(ctx, http.MethodPost, statusPath, map[string]string{
				"state":       state,
				"context":     "k3sync/plan",
				"description": "plan: " + state,
				"target_url":  "https://k3sync.example/plans/1",
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
		}
		statuses, err := s.ListStatuses(ctx, repo.FullName, sha1)
		if err != nil {
			t.Fatal(err)
		}
		type st struct{ State, Context, Description, Creator string }
		var got []st
		for _, c := range statuses {
			got = append(got, st{c.State, c.Context, c.Description, c.Creator.Login})
		}
		want := []st{
			{"success", "k3sync/plan", "plan: success", s.AdminUser},
			{"pending", "k3sync/plan", "plan: pending", s.AdminUser},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListStatuses (-want +got):\n%s", diff)
		}
		// The combined status keeps the latest per context.
		var combined struct {
			State      string `json:"state"`
			TotalCount int    `json:"total_count"`
		}
		if err := s.API(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/commits/%s/status", repo.FullName, sha1), nil, &combined); err != nil {
			t.Fatal(err)
		}
		if combined.State != "success" || combined.TotalCount != 1 {
			t.Errorf("combined status = %+v, want success with 1 context", combined)
		}
	})

	t.Run("sticky comment", func(t *testing.T) {
		var posted gitea.Comment
		err := s.API(ctx, http.MethodPost, fmt.Sprintf("/repos/%s/issues/%d/comments", repo.FullName, pr.Number),
			map[string]string{"body": "<!-- k3sync:plan -->\nplan: 1 to add"}, &posted)
		if err != nil {
			t.Fatal(err)
		}
		const edited = "<!-- k3sync:plan -->\nplan: 2 to add"
		err = s.API(ctx, http.MethodPatch, fmt.Sprintf("/repos/%s/issues/comments/%d", repo.FullName, posted.ID),
			map[string]string{"body": edited}, nil)
		if err != nil {
			t.Fatal(err)
		}
		comments, err := s.ListComments(ctx, repo.FullName, pr.Number)
		if err != nil {
			t.Fatal(err)
		}
		if len(comments) != 1 || comments[0].ID != posted.ID || comments[0].Body != edited || comments[0].User.Login != s.AdminUser {
			t.Errorf("ListComments = %+v, want the one edited comment %d by %s", comments, posted.ID, s.AdminUser)
		}
	})

	t.Run("push to the PR branch", func(t *testing.T) {
		work := t.TempDir()
		git(t, work, "clone", "--branch", "plan-1", s.GitURL(repo.FullName), ".")
		path := filepath.Join(work, "tenants", "payments", "kafka.cue")
		if err := os.WriteFile(path, []byte("topics: orders: partitions: 6\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		git(t, work, "commit", "-am", "payments: more partitions")
		sha2 := git(t, work, "rev-parse", "HEAD")
		git(t, work, "push", "origin", "plan-1")

		sync := hooks.waitFor(t, 30*time.Second, "pull_request synchronized for "+sha2, func(d delivery) bool {
			var p struct {
				Action      string `json:"action"`
				PullRequest struct {
					Head struct {
						SHA string `json:"sha"`
					} `json:"head"`
				} `json:"pull_request"`
			}
			return d.event == "pull_request" && json.Unmarshal(d.body, &p) == nil &&
				p.Action == "synchronized" && p.PullRequest.Head.SHA == sha2
		})
		if sync.eventType != "pull_request_sync" {
			t.Errorf("X-Gitea-Event-Type = %q, want pull_request_sync", sync.eventType)
		}
		hooks.waitFor(t, 30*time.Second, "push of "+sha2, func(d delivery) bool {
			var p struct {
				Ref   string `json:"ref"`
				After string `json:"after"`
			}
			return d.event == "push" && json.Unmarshal(d.body, &p) == nil && p.Ref == "refs/heads/plan-1" && p.After == sha2
		})
		// Every delivery, the branch creation and PR opening included,
		// is signed with the secret.
		for _, d := range hooks.all() {
			if want := sign(secret, d.body); d.signature != want {
				t.Errorf("%s delivery: X-Gitea-Signature = %q, want %q", d.eventType, d.signature, want)
			}
		}

		eventually(t, 30*time.Second, "pull request head at "+sha2, func() (bool, error) {
			pr, err := s.GetPullRequest(ctx, repo.FullName, pr.Number)
			return err == nil && pr.HeadSHA == sha2, err
		})
		if got := lsRemote(t, s, repo.FullName, pullRef); got != sha2 {
			t.Errorf("git ls-remote %s = %q, want %s", pullRef, got, sha2)
		}
	})
}

// TestCommitFilesReplaces checks that CommitFiles creates and replaces
// files on an existing branch, and that API errors keep their status.
func TestCommitFilesReplaces(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := gitea.StartT(t)
	repo, err := s.CreateRepo(ctx, "files")
	if err != nil {
		t.Fatal(err)
	}
	for i, content := range []string{"one\n", "two\n"} {
		sha, err := s.CommitFiles(ctx, repo.FullName, gitea.Commit{
			Files: map[string]string{"README.md": content, fmt.Sprintf("new-%d.txt", i): content},
		})
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		if got := lsRemote(t, s, repo.FullName, "refs/heads/main"); got != sha {
			t.Fatalf("commit %d: main at %q, want %s", i, got, sha)
		}
	}
	var file struct {
		Content string `json:"content"`
	}
	if err := s.API(ctx, http.MethodGet, "/repos/"+repo.FullName+"/contents/README.md", nil, &file); err != nil {
		t.Fatal(err)
	}
	if file.Content != "dHdvCg==" { // base64("two\n")
		t.Errorf("README.md content = %q, want base64 of %q", file.Content, "two\n")
	}

	_, err = s.GetPullRequest(ctx, repo.FullName, 42)
	if !gitea.IsStatus(err, http.StatusNotFound) {
		t.Errorf("GetPullRequest of a missing PR: %v, want a 404 APIError", err)
	}
}
