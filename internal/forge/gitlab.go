package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

// GitLabMaxComment bounds notes on GitLab, whose limit is 1,000,000
// characters. Comments are bounded in bytes (MaxCommentLength), and a
// string never has more characters than bytes, so the same number is
// safe.
const GitLabMaxComment = 1_000_000

// DefaultGitLabURL is gitlab.com.
const DefaultGitLabURL = "https://gitlab.com"

// gitlabAPIPath is where GitLab serves its REST API, under the site root.
const gitlabAPIPath = "/api/v4"

// gitlabRetries bounds the client library's own retries of an idempotent
// call that met a 5xx or a network error. The review loop tries again at
// its next pass anyway. A 429 is not retried by the client: its retry
// finds the gate closed and fails with a RateLimitError at once.
const gitlabRetries = 2

// gitlabBackoff is the client library's wait before a retry: none after a
// 429, whose retry the gate refuses without sending it (the client's own
// backoff would sleep until RateLimit-Reset, however far); 700-900ms times
// the attempt after a 5xx or a network error, as the client does.
func gitlabBackoff(_, _ time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		return 0
	}
	return (700*time.Millisecond + rand.N(200*time.Millisecond)) * time.Duration(attempt+1)
}

// GitLab is a project on gitlab.com or a self-managed GitLab, through
// GitLab's Go client (REST API v4).
type GitLab struct {
	client *gitlab.Client
	// project is the full path, group/subgroup/name; the client escapes
	// it whole (group%2Fsubgroup%2Fname) as the project ID of API paths.
	project string
	// web is the site root, for links: https://gitlab.example.
	web string

	mu sync.Mutex
	// me is the token's user, asked for once.
	me *gitlab.User
}

// NewGitLab returns the project (its full path: group/name, or
// group/subgroup/name with nested groups) on the GitLab at baseURL (its
// root, or its /api/v4; default DefaultGitLabURL), authenticated with
// token. hc may be nil.
func NewGitLab(baseURL, project, token string, hc *http.Client) (*GitLab, error) {
	if err := checkProject(project); err != nil {
		return nil, err
	}
	if baseURL == "" {
		baseURL = DefaultGitLabURL
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		// url.Error quotes the URL, credentials and all.
		return nil, fmt.Errorf("gitlab %s: the URL does not parse", project)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gitlab %s: URL %q is not an absolute http(s) URL", project, u.Redacted())
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	web := strings.TrimSuffix(strings.TrimSuffix(u.String(), "/"), gitlabAPIPath)
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	hc = gated(hc)
	c, err := gitlab.NewClient(token,
		gitlab.WithBaseURL(web+gitlabAPIPath+"/"),
		gitlab.WithHTTPClient(hc),
		// A POST that met a 5xx may have been applied: never repeat it
		// (a second note).
		gitlab.WithOnlyIdempotentRetries(),
		gitlab.WithCustomRetryMax(gitlabRetries),
		gitlab.WithCustomBackoff(gitlabBackoff),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab %s: %w", project, err)
	}
	return &GitLab{client: c, project: project, web: web}, nil
}

// checkProject checks a project's full path: at least a namespace and a
// name, no empty, "." or ".." segment.
func checkProject(project string) error {
	segs := strings.Split(project, "/")
	if len(segs) < 2 {
		return fmt.Errorf("gitlab project %q: want group/name or group/subgroup/name", project)
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return fmt.Errorf("gitlab project %q: want group/name or group/subgroup/name", project)
		}
	}
	return nil
}

// OpenPullRequests lists the open merge requests into base, every page.
// The list is read as full merge requests so that diff_refs, when the
// server sends it, gives the merge base; otherwise MergeBase asks.
func (g *GitLab) OpenPullRequests(ctx context.Context, base string) ([]PullRequest, error) {
	opt := &gitlab.ListProjectMergeRequestsOptions{
		ListOptions:  gitlab.ListOptions{PerPage: pageSize},
		State:        gitlab.Ptr("opened"),
		TargetBranch: gitlab.Ptr(base),
	}
	path := "projects/" + gitlab.PathEscape(g.project) + "/merge_requests"
	var out []PullRequest
	for {
		req, err := g.client.NewRequest(http.MethodGet, path, opt, []gitlab.RequestOptionFunc{gitlab.WithContext(ctx)})
		if err != nil {
			return nil, fmt.Errorf("gitlab %s: list merge requests into %s: %w", g.project, base, err)
		}
		var mrs []*gitlab.MergeRequest
		resp, err := g.client.Do(req, &mrs)
		if err != nil {
			return nil, fmt.Errorf("gitlab %s: list merge requests into %s: %w", g.project, base, glErr(err))
		}
		for _, mr := range mrs {
			if mr == nil || mr.TargetBranch != base {
				continue
			}
			pr := PullRequest{
				Number:    int(mr.IID),
				HeadSHA:   mr.SHA,
				HeadRef:   mr.SourceBranch,
				BaseRef:   mr.TargetBranch,
				MergeBase: mr.DiffRefs.BaseSha,
				Title:     mr.Title,
				URL:       mr.WebURL,
			}
			if mr.Author != nil {
				pr.Author = mr.Author.Username
			}
			out = append(out, pr)
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opt.Page = resp.NextPage
	}
}

// MergeBase asks the repository API for the merge base of base and head.
func (g *GitLab) MergeBase(ctx context.Context, base, head string) (string, error) {
	c, _, err := g.client.Repositories.MergeBase(g.project, &gitlab.MergeBaseOptions{Ref: &[]string{base, head}}, gitlab.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("gitlab %s: merge base of %s and %s: %w", g.project, base, head, glErr(err))
	}
	if c == nil || c.ID == "" {
		return "", fmt.Errorf("gitlab %s: merge base of %s and %s: none", g.project, base, head)
	}
	return c.ID, nil
}

// gitlabState is GitLab's name of a commit status state: it has no error,
// and names failure failed.
func gitlabState(s State) gitlab.BuildStateValue {
	switch s {
	case Pending:
		return gitlab.Pending
	case Success:
		return gitlab.Success
	case Failure, Error:
		return gitlab.Failed
	}
	return gitlab.Failed
}

// SetStatus sets a commit status, named after s.Context.
//
// GitLab refuses to set pending on a commit whose status of that name is
// pending already ("Cannot transition status via :enqueue from
// :pending"): the status is as asked, so that is not an error.
func (g *GitLab) SetStatus(ctx context.Context, sha string, s Status) error {
	st := gitlabState(s.State)
	opt := &gitlab.SetCommitStatusOptions{
		State:       st,
		Name:        gitlab.Ptr(s.Context),
		Description: gitlab.Ptr(Description(s.Description)),
	}
	if s.TargetURL != "" {
		opt.TargetURL = gitlab.Ptr(s.TargetURL)
	}
	_, _, err := g.client.Commits.SetCommitStatus(g.project, sha, opt, gitlab.WithContext(ctx))
	err = glErr(err)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusBadRequest && st == gitlab.Pending &&
		strings.Contains(apiErr.Message, "Cannot transition status via :enqueue from :pending") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("gitlab %s: status %s on %s: %w", g.project, s.Context, sha, err)
	}
	return nil
}

// UpsertComment edits our merge request note carrying marker, or creates
// it. Notes are read oldest first, every page; system notes ("added 1
// commit") and notes of other users are never edited.
func (g *GitLab) UpsertComment(ctx context.Context, number int, marker, body string) error {
	body = withMarker(marker, body)
	me, err := g.self(ctx)
	if err != nil {
		return err
	}
	iid := int64(number)
	opt := &gitlab.ListMergeRequestNotesOptions{
		ListOptions: gitlab.ListOptions{PerPage: pageSize},
		OrderBy:     gitlab.Ptr("created_at"),
		Sort:        gitlab.Ptr("asc"),
	}
	for {
		notes, resp, err := g.client.Notes.ListMergeRequestNotes(g.project, iid, opt, gitlab.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("gitlab %s!%d: list notes: %w", g.project, number, glErr(err))
		}
		for _, n := range notes {
			if n == nil || n.System || n.Author.ID != me.ID || !strings.Contains(n.Body, marker) {
				continue
			}
			if n.Body == body {
				return nil
			}
			if _, _, err := g.client.Notes.UpdateMergeRequestNote(g.project, iid, n.ID, &gitlab.UpdateMergeRequestNoteOptions{Body: gitlab.Ptr(body)}, gitlab.WithContext(ctx)); err != nil {
				return fmt.Errorf("gitlab %s!%d: edit note %d: %w", g.project, number, n.ID, glErr(err))
			}
			return nil
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	if _, _, err := g.client.Notes.CreateMergeRequestNote(g.project, iid, &gitlab.CreateMergeRequestNoteOptions{Body: gitlab.Ptr(body)}, gitlab.WithContext(ctx)); err != nil {
		return fmt.Errorf("gitlab %s!%d: create note: %w", g.project, number, glErr(err))
	}
	return nil
}

// self is the token's user, asked for once. A project or group access
// token has a bot user of its own, which /user returns too.
func (g *GitLab) self(ctx context.Context) (*gitlab.User, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.me != nil {
		return g.me, nil
	}
	u, _, err := g.client.Users.CurrentUser(gitlab.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("gitlab: who am I: %w", glErr(err))
	}
	if u == nil || u.ID == 0 {
		return nil, errors.New("gitlab: who am I: no user ID in the answer")
	}
	g.me = u
	return u, nil
}

// FileURL links to path at line in commit sha:
// <root>/<group>/<name>/-/blob/<sha>/<path>#L<line>.
func (g *GitLab) FileURL(sha, path string, line int) string {
	u := fmt.Sprintf("%s/%s/-/blob/%s/%s", g.web, escapePath(g.project), url.PathEscape(sha), escapePath(path))
	if line > 0 {
		u += fmt.Sprintf("#L%d", line)
	}
	return u
}

// MaxCommentLength is GitLabMaxComment.
func (g *GitLab) MaxCommentLength() int { return GitLabMaxComment }

// PullRef is the ref that holds the head of merge request number in the
// project, including merge requests from forks.
func (g *GitLab) PullRef(number int) string {
	return fmt.Sprintf("refs/merge-requests/%d/head", number)
}

// glErr keeps the client's error but drops the request URL it prints,
// which the caller's message already names.
func glErr(err error) error {
	var er *gitlab.ErrorResponse
	if !errors.As(err, &er) {
		return err
	}
	msg := strings.TrimSpace(er.Message)
	var body struct {
		Message any    `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(er.Body, &body) == nil {
		// GitLab answers {"message": "..."}, {"message": {field: [...]}}
		// (which the client prints well) or {"error": "..."}.
		if m, ok := body.Message.(string); ok && m != "" {
			msg = m
		} else if body.Message == nil && body.Error != "" {
			msg = body.Error
		}
	}
	if msg == http.StatusText(er.StatusCode) {
		msg = ""
	}
	if r := []rune(msg); len(r) > 256 {
		msg = string(r[:256]) + "…"
	}
	return rateLimited(er.Response, &APIError{StatusCode: er.StatusCode, Message: msg, err: err})
}
