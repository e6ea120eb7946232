package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// GiteaMaxComment bounds comments on Gitea. Gitea stores any length; the
// bound keeps comments readable and matches GitHub's.
const GiteaMaxComment = 65535

// giteaPage is how many items a Gitea list asks for per page (its
// default maximum is 50).
const giteaPage = 50

// Gitea is a repository on a Gitea server, through its REST API v1.
type Gitea struct {
	hc          *http.Client
	api, web    string
	owner, repo string
	token       string

	mu    sync.Mutex
	login string
}

// NewGitea returns the repository owner/name on the Gitea at baseURL (its
// root, or its /api/v1), authenticated with token. hc may be nil.
func NewGitea(baseURL, repo, token string, hc *http.Client) (*Gitea, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("gitea %s: URL %q is not absolute", repo, baseURL)
	}
	u.RawQuery, u.Fragment = "", ""
	web := strings.TrimSuffix(strings.TrimSuffix(u.String(), "/"), "/api/v1")
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	hc = gated(hc)
	return &Gitea{hc: hc, api: web + "/api/v1", web: web, owner: owner, repo: name, token: token}, nil
}

func (g *Gitea) name() string { return g.owner + "/" + g.repo }

func (g *Gitea) repoPath() string {
	return "/repos/" + url.PathEscape(g.owner) + "/" + url.PathEscape(g.repo)
}

// call sends one API request with a JSON body (when in is not nil) and
// decodes the JSON answer into out (when not nil).
func (g *Gitea) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.api+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "token "+g.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %w", method, path, rateLimited(resp, &APIError{StatusCode: resp.StatusCode, Message: giteaMessage(b)}))
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func giteaMessage(b []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		return e.Message
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 256 {
		msg = msg[:256] + "…"
	}
	return msg
}

type giteaPull struct {
	Number    int    `json:"number"`
	Title     string `json:"title"`
	HTMLURL   string `json:"html_url"`
	MergeBase string `json:"merge_base"`
	User      struct {
		Login string `json:"login"`
	} `json:"user"`
	Head struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

// OpenPullRequests lists the open pull requests into base, every page.
// Gitea cannot filter the list by base branch, so it is filtered here.
func (g *Gitea) OpenPullRequests(ctx context.Context, base string) ([]PullRequest, error) {
	var out []PullRequest
	for page := 1; ; page++ {
		var prs []giteaPull
		q := url.Values{"state": {"open"}, "page": {fmt.Sprint(page)}, "limit": {fmt.Sprint(giteaPage)}}
		if err := g.call(ctx, http.MethodGet, g.repoPath()+"/pulls?"+q.Encode(), nil, &prs); err != nil {
			return nil, fmt.Errorf("gitea %s: list pull requests: %w", g.name(), err)
		}
		for _, p := range prs {
			if p.Base.Ref != base {
				continue
			}
			out = append(out, PullRequest{
				Number: p.Number, HeadSHA: p.Head.SHA, HeadRef: p.Head.Ref, BaseRef: p.Base.Ref,
				MergeBase: p.MergeBase, Title: p.Title, Author: p.User.Login, URL: p.HTMLURL,
			})
		}
		if len(prs) < giteaPage {
			return out, nil
		}
	}
}

// SetStatus sets a commit status.
func (g *Gitea) SetStatus(ctx context.Context, sha string, s Status) error {
	in := map[string]string{"state": string(s.State), "context": s.Context, "description": Description(s.Description), "target_url": s.TargetURL}
	if err := g.call(ctx, http.MethodPost, g.repoPath()+"/statuses/"+url.PathEscape(sha), in, nil); err != nil {
		return fmt.Errorf("gitea %s: status %s on %s: %w", g.name(), s.Context, sha, err)
	}
	return nil
}

type giteaComment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
	User struct {
		Login string `json:"login"`
	} `json:"user"`
}

// UpsertComment edits our comment carrying marker, or creates it.
func (g *Gitea) UpsertComment(ctx context.Context, number int, marker, body string) error {
	body = withMarker(marker, body)
	me, err := g.self(ctx)
	if err != nil {
		return err
	}
	// Gitea answers with every comment of the issue at once.
	var comments []giteaComment
	path := fmt.Sprintf("%s/issues/%d/comments", g.repoPath(), number)
	if err := g.call(ctx, http.MethodGet, path, nil, &comments); err != nil {
		return fmt.Errorf("gitea %s#%d: list comments: %w", g.name(), number, err)
	}
	for _, c := range comments {
		if c.User.Login != me || !strings.Contains(c.Body, marker) {
			continue
		}
		if c.Body == body {
			return nil
		}
		if err := g.call(ctx, http.MethodPatch, fmt.Sprintf("%s/issues/comments/%d", g.repoPath(), c.ID), map[string]string{"body": body}, nil); err != nil {
			return fmt.Errorf("gitea %s#%d: edit comment %d: %w", g.name(), number, c.ID, err)
		}
		return nil
	}
	if err := g.call(ctx, http.MethodPost, path, map[string]string{"body": body}, nil); err != nil {
		return fmt.Errorf("gitea %s#%d: create comment: %w", g.name(), number, err)
	}
	return nil
}

// self is the token's login, asked for once.
func (g *Gitea) self(ctx context.Context) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.login != "" {
		return g.login, nil
	}
	var u struct {
		Login string `json:"login"`
	}
	if err := g.call(ctx, http.MethodGet, "/user", nil, &u); err != nil {
		return "", fmt.Errorf("gitea: who am I: %w", err)
	}
	if u.Login == "" {
		return "", errors.New("gitea: who am I: no login in the answer")
	}
	g.login = u.Login
	return g.login, nil
}

// FileURL links to path at line in commit sha.
func (g *Gitea) FileURL(sha, path string, line int) string {
	u := fmt.Sprintf("%s/%s/%s/src/commit/%s/%s", g.web, url.PathEscape(g.owner), url.PathEscape(g.repo), sha, escapePath(path))
	if line > 0 {
		u += fmt.Sprintf("#L%d", line)
	}
	return u
}

// MaxCommentLength is GiteaMaxComment.
func (g *Gitea) MaxCommentLength() int { return GiteaMaxComment }

// PullRef is refs/pull/<number>/head, which holds the head of pull
// requests from forks too.
func (g *Gitea) PullRef(number int) string { return fmt.Sprintf("refs/pull/%d/head", number) }
