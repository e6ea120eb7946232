package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/google/go-github/v93/github"
)

// GitHubMaxComment is the longest comment body GitHub accepts.
const GitHubMaxComment = 65535

// DefaultGitHubURL is the API base of github.com.
const DefaultGitHubURL = "https://api.github.com/"

// pageSize is how many items a list asks for per page.
const pageSize = 100

// GitHub is a repository on GitHub or GitHub Enterprise.
type GitHub struct {
	client      *github.Client
	owner, repo string
	// web is the site root, for links: https://github.com.
	web string

	mu sync.Mutex
	// login is the account k3sync posts as: configured (forge.login), the
	// token's user, or learnt from the first comment k3sync creates.
	login string
	// app: the token is a GitHub App's, which may not read /user.
	app bool
}

// SetLogin names the account the token posts as, <app-slug>[bot] for a
// GitHub App: only its comments are k3sync's. A GitHub App's installation
// token cannot ask who it is, and other bots (github-actions[bot], run by
// a workflow of the pull request's author) may post a comment carrying
// k3sync's marker.
func (g *GitHub) SetLogin(login string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.login = login
}

// NewGitHub returns the repository owner/name behind apiURL (default
// DefaultGitHubURL), authenticated with token. hc may be nil.
func NewGitHub(apiURL, repo, token string, hc *http.Client) (*GitHub, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	if apiURL == "" {
		apiURL = DefaultGitHubURL
	}
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	hc = gated(hc)
	// The gate holds calls back after a rate limit answer, for at most
	// MaxRetryAfter; go-github's own check would trust the reset header
	// however far it is.
	c, err := github.NewClient(github.WithHTTPClient(hc), github.WithAuthToken(token), github.WithURLs(&apiURL, nil), github.WithDisableRateLimitCheck())
	if err != nil {
		return nil, fmt.Errorf("github %s: %w", repo, err)
	}
	web, err := githubWeb(apiURL)
	if err != nil {
		return nil, fmt.Errorf("github %s: %w", repo, err)
	}
	return &GitHub{client: c, owner: owner, repo: name, web: web}, nil
}

// githubWeb derives the web root from the API base: api.github.com is
// github.com; GitHub Enterprise serves its API under /api/v3.
func githubWeb(apiURL string) (string, error) {
	u, err := url.Parse(apiURL)
	if err != nil {
		return "", fmt.Errorf("API URL: %w", err)
	}
	if h, ok := strings.CutPrefix(u.Host, "api."); ok {
		u.Host = h
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3")
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimSuffix(u.String(), "/"), nil
}

func (g *GitHub) name() string { return g.owner + "/" + g.repo }

// OpenPullRequests lists the open pull requests into base, every page.
func (g *GitHub) OpenPullRequests(ctx context.Context, base string) ([]PullRequest, error) {
	opts := &github.PullRequestListOptions{State: "open", Base: base, ListOptions: github.ListOptions{PerPage: pageSize}}
	var out []PullRequest
	for {
		prs, resp, err := g.client.PullRequests.List(ctx, g.owner, g.repo, opts)
		if err != nil {
			return nil, fmt.Errorf("github %s: list pull requests into %s: %w", g.name(), base, ghErr(err))
		}
		for _, p := range prs {
			out = append(out, PullRequest{
				Number:  p.GetNumber(),
				HeadSHA: p.GetHead().GetSHA(),
				HeadRef: p.GetHead().GetRef(),
				BaseRef: p.GetBase().GetRef(),
				Title:   p.GetTitle(),
				Author:  p.GetUser().GetLogin(),
				URL:     p.GetHTMLURL(),
			})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// MergeBase asks the compare API for the merge base of base and head.
func (g *GitHub) MergeBase(ctx context.Context, base, head string) (string, error) {
	cmp, _, err := g.client.Repositories.CompareCommits(ctx, g.owner, g.repo, base, head, &github.ListOptions{PerPage: 1})
	if err != nil {
		return "", fmt.Errorf("github %s: compare %s...%s: %w", g.name(), base, head, ghErr(err))
	}
	sha := cmp.GetMergeBaseCommit().GetSHA()
	if sha == "" {
		return "", fmt.Errorf("github %s: compare %s...%s: no merge base", g.name(), base, head)
	}
	return sha, nil
}

// SetStatus sets a commit status.
func (g *GitHub) SetStatus(ctx context.Context, sha string, s Status) error {
	st := github.RepoStatus{
		State:       new(string(s.State)),
		Context:     new(s.Context),
		Description: new(Description(s.Description)),
	}
	if s.TargetURL != "" {
		st.TargetURL = new(s.TargetURL)
	}
	if _, _, err := g.client.Repositories.CreateStatus(ctx, g.owner, g.repo, sha, st); err != nil {
		return fmt.Errorf("github %s: status %s on %s: %w", g.name(), s.Context, sha, ghErr(err))
	}
	return nil
}

// UpsertComment edits our comment carrying marker, or creates it.
func (g *GitHub) UpsertComment(ctx context.Context, number int, marker, body string) error {
	body = withMarker(marker, body)
	me, _, err := g.self(ctx)
	if err != nil {
		return err
	}
	// An app whose login is not known yet owns no comment: it creates its
	// own, and learns its login from it.
	ours := func(c *github.IssueComment) bool { return me != "" && strings.EqualFold(c.GetUser().GetLogin(), me) }
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: pageSize}}
	for {
		comments, resp, err := g.client.Issues.ListComments(ctx, g.owner, g.repo, number, opts)
		if err != nil {
			return fmt.Errorf("github %s#%d: list comments: %w", g.name(), number, ghErr(err))
		}
		for _, c := range comments {
			if !ours(c) || !strings.Contains(c.GetBody(), marker) {
				continue
			}
			if c.GetBody() == body {
				return nil
			}
			if _, _, err := g.client.Issues.UpdateComment(ctx, g.owner, g.repo, c.GetID(), github.IssueCommentRequest{Body: body}); err != nil {
				return fmt.Errorf("github %s#%d: edit comment %d: %w", g.name(), number, c.GetID(), ghErr(err))
			}
			return nil
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	created, _, err := g.client.Issues.CreateComment(ctx, g.owner, g.repo, number, github.IssueCommentRequest{Body: body})
	if err != nil {
		return fmt.Errorf("github %s#%d: create comment: %w", g.name(), number, ghErr(err))
	}
	// Who posted it is who k3sync is: a login learnt, or a configured one
	// corrected (else each review would post another comment).
	if got := created.GetUser().GetLogin(); got != "" && !strings.EqualFold(got, me) {
		g.SetLogin(got)
	}
	return nil
}

// self is the token's login, asked for once. A GitHub App's installation
// token is refused /user (403): it is then an app, whose login is "" until
// configured (SetLogin) or learnt from a comment it created.
func (g *GitHub) self(ctx context.Context) (login string, app bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.login != "" || g.app {
		return g.login, g.app, nil
	}
	u, _, err := g.client.Users.Get(ctx, "")
	var apiErr *APIError
	err = ghErr(err)
	// A rate limit's 403 is not an app's.
	_, limited := RetryAfter(err)
	switch {
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusForbidden && !limited:
		g.app = true
		return "", true, nil
	case err != nil:
		return "", false, fmt.Errorf("github: who am I: %w", err)
	case u.GetLogin() == "":
		return "", false, errors.New("github: who am I: no login in the answer")
	}
	g.login = u.GetLogin()
	return g.login, false, nil
}

// FileURL links to path at line in commit sha.
func (g *GitHub) FileURL(sha, path string, line int) string {
	u := fmt.Sprintf("%s/%s/%s/blob/%s/%s", g.web, url.PathEscape(g.owner), url.PathEscape(g.repo), sha, escapePath(path))
	if line > 0 {
		u += fmt.Sprintf("#L%d", line)
	}
	return u
}

// MaxCommentLength is GitHubMaxComment.
func (g *GitHub) MaxCommentLength() int { return GitHubMaxComment }

// PullRef is refs/pull/<number>/head, which holds the head of pull
// requests from forks too.
func (g *GitHub) PullRef(number int) string { return fmt.Sprintf("refs/pull/%d/head", number) }

// ghErr keeps go-github's error but drops the request URL it prints,
// which the caller's message already names. An answer that asks to wait
// (go-github's RateLimitError and AbuseRateLimitError, or a 429) is a
// RateLimitError.
func ghErr(err error) error {
	var resp *http.Response
	var msg string
	if er, ok := errors.AsType[*github.ErrorResponse](err); ok && er.Response != nil {
		resp, msg = er.Response, er.Message
	} else if rl, ok := errors.AsType[*github.RateLimitError](err); ok && rl.Response != nil {
		resp, msg = rl.Response, rl.Message
	} else if ab, ok := errors.AsType[*github.AbuseRateLimitError](err); ok && ab.Response != nil {
		resp, msg = ab.Response, ab.Message
	}
	if resp == nil {
		return err
	}
	return rateLimited(resp, &APIError{StatusCode: resp.StatusCode, Message: msg, err: err})
}
