package forge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/testenv/gitea"
)

// TestGiteaForge drives a real Gitea: pull requests with their merge
// base, statuses, and the sticky comment next to someone else's comment
// that carries the marker.
func TestGiteaForge(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := gitea.StartT(t)
	repo, err := s.CreateRepo(ctx, "platform")
	if err != nil {
		t.Fatal(err)
	}
	base, err := s.CommitFiles(ctx, repo.FullName, gitea.Commit{Message: "platform", Files: map[string]string{"platform.cue": "package k3sync\n"}})
	if err != nil {
		t.Fatal(err)
	}
	head, err := s.CommitFiles(ctx, repo.FullName, gitea.Commit{NewBranch: "topic", Message: "payments", Files: map[string]string{"tenants/payments/tenant.cue": "package k3sync\n"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitFiles(ctx, repo.FullName, gitea.Commit{NewBranch: "release", Message: "release", Files: map[string]string{"RELEASE": "1\n"}}); err != nil {
		t.Fatal(err)
	}
	pr, err := s.CreatePullRequest(ctx, repo.FullName, "topic", "main", "payments: add tenant")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePullRequest(ctx, repo.FullName, "topic", "release", "into another branch"); err != nil {
		t.Fatal(err)
	}

	g, err := NewGitea(s.URL, repo.FullName, s.AdminToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	prs, err := g.OpenPullRequests(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	want := []PullRequest{{
		Number: int(pr.Number), HeadSHA: head, HeadRef: "topic", BaseRef: "main", MergeBase: base,
		Title: "payments: add tenant", Author: s.AdminUser, URL: pr.HTMLURL,
	}}
	if diff := cmp.Diff(want, prs); diff != "" {
		t.Errorf("OpenPullRequests (-want +got):\n%s", diff)
	}

	if err := g.SetStatus(ctx, head, Status{Context: ContextPlan, State: Failure, Description: "1 blocked", TargetURL: "https://k3sync.example/"}); err != nil {
		t.Fatal(err)
	}
	statuses, err := s.ListStatuses(ctx, repo.FullName, head)
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 1 || statuses[0].State != "failure" || statuses[0].Context != "k3sync/plan" || statuses[0].Description != "1 blocked" || statuses[0].TargetURL != "https://k3sync.example/" {
		t.Errorf("statuses: %+v", statuses)
	}

	// Someone else pastes the marker first: it is not ours to edit.
	const marker = "<!-- k3sync:plan -->"
	other := addUser(t, s, "mallory")
	commentAs(t, s, other, repo.FullName, pr.Number, marker+"\nnot a plan")
	for _, body := range []string{"plan 1", "plan 2", "plan 2"} {
		if err := g.UpsertComment(ctx, int(pr.Number), marker, body); err != nil {
			t.Fatal(err)
		}
	}
	comments, err := s.ListComments(ctx, repo.FullName, pr.Number)
	if err != nil {
		t.Fatal(err)
	}
	type cm struct{ User, Body string }
	var got []cm
	for _, c := range comments {
		got = append(got, cm{c.User.Login, c.Body})
	}
	wantComments := []cm{{"mallory", marker + "\nnot a plan"}, {s.AdminUser, marker + "\nplan 2"}}
	if diff := cmp.Diff(wantComments, got); diff != "" {
		t.Errorf("comments (-want +got):\n%s", diff)
	}

	if err := g.SetStatus(ctx, "0000000000000000000000000000000000000000", Status{Context: ContextPlan, State: Pending}); err == nil || strings.Contains(err.Error(), s.AdminToken) {
		t.Errorf("status on a missing commit: %v", err)
	}
}

// addUser creates a user; requests made with the admin token and the
// Sudo header act as that user.
func addUser(t *testing.T, s *gitea.Server, name string) string {
	t.Helper()
	err := s.API(t.Context(), http.MethodPost, "/admin/users", map[string]any{
		"username": name, "email": name + "@example.com", "password": "pw-" + name + "-12345678", "must_change_password": false,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func commentAs(t *testing.T, s *gitea.Server, user, repo string, number int64, body string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"body": body})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, fmt.Sprintf("%s/api/v1/repos/%s/issues/%d/comments", s.URL, repo, number), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+s.AdminToken)
	req.Header.Set("Sudo", user)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("comment as %s: %s", user, resp.Status)
	}
}
