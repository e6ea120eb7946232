package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/untrusted"
)

// Forge is a forge hosting the platform repo.
type Forge interface {
	// OpenPullRequests lists the open pull requests into branch base.
	OpenPullRequests(ctx context.Context, base string) ([]PullRequest, error)
	// SetStatus sets a commit status on sha.
	SetStatus(ctx context.Context, sha string, s Status) error
	// UpsertComment edits the pull request's comment that contains marker
	// and was written by us, or creates it: never a second one.
	UpsertComment(ctx context.Context, number int, marker, body string) error
	// FileURL links to a line of a file at commit sha (line 0: the file).
	FileURL(sha, path string, line int) string
	// MaxCommentLength is the longest comment body the forge takes, in
	// bytes.
	MaxCommentLength() int
	// PullRef is the ref that holds the head of pull request number,
	// forks' included: refs/pull/<n>/head on GitHub and Gitea,
	// refs/merge-requests/<n>/head on GitLab.
	PullRef(number int) string
}

// PullRequest is an open pull request.
type PullRequest struct {
	Number  int
	HeadSHA string
	HeadRef string
	BaseRef string
	// MergeBase is the commit the head branched from, when the forge says
	// (Gitea does, GitHub's list does not).
	MergeBase string
	Title     string
	Author    string
	// URL is the pull request's web page.
	URL string
}

// State is a commit status state.
type State string

// States, as GitHub and Gitea name them.
const (
	Pending State = "pending"
	Success State = "success"
	Failure State = "failure"
	// Error: the check itself could not run.
	Error State = "error"
)

// Status contexts k3sync sets.
const (
	ContextPlan  = "k3sync/plan"
	ContextApply = "k3sync/apply"
)

// MaxDescription is the longest status description GitHub accepts.
const MaxDescription = 140

// Status is a commit status.
type Status struct {
	Context     string
	State       State
	Description string
	TargetURL   string
}

// Description cuts s to MaxDescription characters, ending with an
// ellipsis when it was cut, on one line. Descriptions quote tenant names
// and errors: whitespace runs become one space and other control and
// format characters (ESC, bidi overrides) are written as escapes.
func Description(s string) string {
	s = untrusted.Visible(strings.Join(strings.Fields(s), " "))
	if utf8.RuneCountInString(s) <= MaxDescription {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:MaxDescription-1])) + "…"
}

// ErrNoToken: the forge token is empty.
var ErrNoToken = errors.New("forge token is empty")

// defaultTimeout bounds one API call.
const defaultTimeout = 30 * time.Second

// New builds the forge of cfg, reading its token. nil, nil when no forge
// is configured.
func New(cfg config.Forge) (Forge, error) {
	if !cfg.Enabled() {
		return nil, nil //nolint:nilnil // disabled is not an error
	}
	if err := cfg.Validate(); err != nil {
		return nil, err //nolint:wrapcheck // names the field
	}
	token, err := cfg.Token.Value()
	if err != nil {
		return nil, fmt.Errorf("forge.token: %w", err)
	}
	if token == "" {
		return nil, fmt.Errorf("forge.token: %w", ErrNoToken)
	}
	hc := &http.Client{Timeout: defaultTimeout}
	switch cfg.Kind {
	case config.ForgeGitHub:
		g, err := NewGitHub(cfg.URL, cfg.Repo, token, hc)
		if err != nil {
			return nil, err
		}
		if cfg.Login != "" {
			g.SetLogin(cfg.Login)
		}
		return g, nil
	case config.ForgeGitea:
		return NewGitea(cfg.URL, cfg.Repo, token, hc)
	case config.ForgeGitLab:
		return NewGitLab(cfg.URL, cfg.Repo, token, hc)
	}
	return nil, fmt.Errorf("forge.kind: %q is not github, gitea or gitlab", cfg.Kind)
}

// splitRepo splits owner/name.
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("forge repo %q: want owner/name", repo)
	}
	return owner, name, nil
}

// withMarker makes sure body carries marker, first.
func withMarker(marker, body string) string {
	if strings.Contains(body, marker) {
		return body
	}
	return marker + "\n" + body
}

// escapePath escapes each segment of a repo path for a URL.
func escapePath(p string) string {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// APIError is an answer of the forge's API that is not a success.
type APIError struct {
	StatusCode int
	Message    string
	err        error
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns the client library's error, if any.
func (e *APIError) Unwrap() error { return e.err }
