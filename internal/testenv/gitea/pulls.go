package gitea

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// PullRequest is a pull request as the helpers report it.
type PullRequest struct {
	Number  int64
	Title   string
	State   string // "open" or "closed"
	HeadRef string // the branch
	HeadSHA string
	BaseRef string
	HTMLURL string
}

type apiPull struct {
	Number  int64  `json:"number"`
	Title   string `json:"title"`
	State   string `json:"state"`
	HTMLURL string `json:"html_url"`
	Head    struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

func (p apiPull) pull() PullRequest {
	return PullRequest{
		Number:  p.Number,
		Title:   p.Title,
		State:   p.State,
		HeadRef: p.Head.Ref,
		HeadSHA: p.Head.SHA,
		BaseRef: p.Base.Ref,
		HTMLURL: p.HTMLURL,
	}
}

// CreatePullRequest opens a pull request in repo from branch head into
// branch base.
func (s *Server) CreatePullRequest(ctx context.Context, repo, head, base, title string) (PullRequest, error) {
	rp, err := repoPath(repo)
	if err != nil {
		return PullRequest{}, err
	}
	var p apiPull
	err = s.API(ctx, http.MethodPost, rp+"/pulls", map[string]string{
		"head":  head,
		"base":  base,
		"title": title,
	}, &p)
	if err != nil {
		return PullRequest{}, fmt.Errorf("gitea repository %s: pull request %s into %s: %w", repo, head, base, err)
	}
	return p.pull(), nil
}

// GetPullRequest returns pull request number of repo. Gitea updates HeadSHA
// asynchronously after a push to the branch: poll for it.
func (s *Server) GetPullRequest(ctx context.Context, repo string, number int64) (PullRequest, error) {
	rp, err := repoPath(repo)
	if err != nil {
		return PullRequest{}, err
	}
	var p apiPull
	if err := s.API(ctx, http.MethodGet, fmt.Sprintf("%s/pulls/%d", rp, number), nil, &p); err != nil {
		return PullRequest{}, fmt.Errorf("gitea repository %s: pull request %d: %w", repo, number, err)
	}
	return p.pull(), nil
}

// CommitStatus is a commit status as Gitea reports it.
type CommitStatus struct {
	ID          int64     `json:"id"`
	State       string    `json:"status"` // pending, success, error, failure, warning
	Context     string    `json:"context"`
	Description string    `json:"description"`
	TargetURL   string    `json:"target_url"`
	Created     time.Time `json:"created_at"`
	Updated     time.Time `json:"updated_at"`
	Creator     struct {
		Login string `json:"login"`
	} `json:"creator"`
}

// ListStatuses returns all the statuses posted for commit sha of repo,
// every page, newest first. A context posted twice appears twice.
func (s *Server) ListStatuses(ctx context.Context, repo, sha string) ([]CommitStatus, error) {
	rp, err := repoPath(repo)
	if err != nil {
		return nil, err
	}
	var statuses []CommitStatus
	// Ordered by index, which is unique, so that pages neither overlap nor
	// skip; the direction is set below.
	if err := listAll(ctx, s, rp+"/statuses/"+url.PathEscape(sha)+"?sort=leastindex", &statuses); err != nil {
		return nil, fmt.Errorf("gitea repository %s: statuses of %s: %w", repo, sha, err)
	}
	// Newest first: IDs grow with every status.
	slices.SortFunc(statuses, func(a, b CommitStatus) int { return cmp.Compare(b.ID, a.ID) })
	return statuses, nil
}

// Comment is an issue (or pull request) comment as Gitea reports it.
type Comment struct {
	ID      int64     `json:"id"`
	Body    string    `json:"body"`
	HTMLURL string    `json:"html_url"`
	Created time.Time `json:"created_at"`
	Updated time.Time `json:"updated_at"`
	User    struct {
		Login string `json:"login"`
	} `json:"user"`
}

// ListComments returns the comments on issue or pull request number of
// repo, oldest first (review comments on lines of the diff are not
// included). Gitea does not page this list.
func (s *Server) ListComments(ctx context.Context, repo string, number int64) ([]Comment, error) {
	rp, err := repoPath(repo)
	if err != nil {
		return nil, err
	}
	var comments []Comment
	if err := s.API(ctx, http.MethodGet, fmt.Sprintf("%s/issues/%d/comments", rp, number), nil, &comments); err != nil {
		return nil, fmt.Errorf("gitea repository %s: comments of #%d: %w", repo, number, err)
	}
	return comments, nil
}

// CreateWebhook registers a Gitea-type webhook on repo posting JSON to
// target for events (e.g. "push", "pull_request", "pull_request_sync",
// "issue_comment"), and returns its ID. With a secret, every delivery
// carries X-Gitea-Signature: the hex HMAC-SHA256 of the body keyed with it.
func (s *Server) CreateWebhook(ctx context.Context, repo, target, secret string, events []string) (int64, error) {
	rp, err := repoPath(repo)
	if err != nil {
		return 0, err
	}
	var hook struct {
		ID int64 `json:"id"`
	}
	err = s.API(ctx, http.MethodPost, rp+"/hooks", map[string]any{
		"type":   "gitea",
		"active": true,
		"events": events,
		"config": map[string]string{
			"url":          target,
			"content_type": "json",
			"http_method":  "post",
			"secret":       secret,
		},
	}, &hook)
	if err != nil {
		return 0, fmt.Errorf("gitea repository %s: webhook to %s: %w", repo, target, err)
	}
	return hook.ID, nil
}
