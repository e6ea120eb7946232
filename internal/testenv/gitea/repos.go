package gitea

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Repo is a repository as the helpers report it.
type Repo struct {
	// FullName is "owner/name", the form every helper takes.
	FullName      string
	Owner, Name   string
	DefaultBranch string
	// CloneURL is the anonymous HTTP clone address; GitURL adds
	// credentials.
	CloneURL string
	HTMLURL  string
}

type apiRepo struct {
	Name          string `json:"name"`
	FullName      string `json:"full_name"`
	DefaultBranch string `json:"default_branch"`
	CloneURL      string `json:"clone_url"`
	HTMLURL       string `json:"html_url"`
	Owner         struct {
		Login string `json:"login"`
	} `json:"owner"`
}

func (r apiRepo) repo() Repo {
	return Repo{
		FullName:      r.FullName,
		Owner:         r.Owner.Login,
		Name:          r.Name,
		DefaultBranch: r.DefaultBranch,
		CloneURL:      r.CloneURL,
		HTMLURL:       r.HTMLURL,
	}
}

// CreateRepo creates the public repository AdminUser/name, initialized
// with a README.md commit on its default branch "main".
func (s *Server) CreateRepo(ctx context.Context, name string) (Repo, error) {
	var r apiRepo
	err := s.API(ctx, http.MethodPost, "/user/repos", map[string]any{
		"name":           name,
		"auto_init":      true,
		"readme":         "Default",
		"default_branch": "main",
	}, &r)
	if err != nil {
		return Repo{}, fmt.Errorf("gitea repository %s/%s: create: %w", s.AdminUser, name, err)
	}
	return r.repo(), nil
}

// Commit is one commit for CommitFiles.
type Commit struct {
	// Branch is the branch to commit on, or with NewBranch the one to
	// start from. Empty means the default branch.
	Branch string
	// NewBranch, if set, is created from Branch and receives the commit.
	// It must not exist yet.
	NewBranch string
	// Message is the commit message. Empty means one Gitea makes up.
	Message string
	// Files maps paths to their whole new content: missing files are
	// created, existing ones replaced.
	Files map[string]string
}

// CommitFiles commits c through the contents API
// (POST /repos/{owner}/{repo}/contents) and returns the commit's SHA. Gitea
// pushes it like any other push: webhooks fire, pull requests from the
// branch are updated.
func (s *Server) CommitFiles(ctx context.Context, repo string, c Commit) (string, error) {
	rp, err := repoPath(repo)
	if err != nil {
		return "", err
	}
	if len(c.Files) == 0 {
		return "", fmt.Errorf("gitea repository %s: commit: no files", repo)
	}
	type fileOp struct {
		Operation string `json:"operation"`
		Path      string `json:"path"`
		Content   string `json:"content"`
		SHA       string `json:"sha,omitempty"`
	}
	ops := make([]fileOp, 0, len(c.Files))
	for _, path := range slices.Sorted(maps.Keys(c.Files)) {
		// Replacing a file takes the SHA of its current blob.
		sha, err := s.blobSHA(ctx, rp, c.Branch, path)
		if err != nil {
			return "", fmt.Errorf("gitea repository %s: commit: %w", repo, err)
		}
		op := fileOp{Operation: "create", Path: path, Content: base64.StdEncoding.EncodeToString([]byte(c.Files[path]))}
		if sha != "" {
			op.Operation, op.SHA = "update", sha
		}
		ops = append(ops, op)
	}
	var resp struct {
		Commit struct {
			SHA string `json:"sha"`
		} `json:"commit"`
	}
	err = s.API(ctx, http.MethodPost, rp+"/contents", map[string]any{
		"branch":     c.Branch,
		"new_branch": c.NewBranch,
		"message":    c.Message,
		"files":      ops,
	}, &resp)
	if err != nil {
		return "", fmt.Errorf("gitea repository %s: commit: %w", repo, err)
	}
	if resp.Commit.SHA == "" {
		return "", fmt.Errorf("gitea repository %s: commit: no commit SHA in the answer", repo)
	}
	return resp.Commit.SHA, nil
}

// blobSHA returns the blob SHA of path on ref (the default branch if
// empty), or "" if there is no such file.
func (s *Server) blobSHA(ctx context.Context, rp, ref, path string) (string, error) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	p := rp + "/contents/" + strings.Join(segs, "/")
	if ref != "" {
		p += "?ref=" + url.QueryEscape(ref)
	}
	var entry struct {
		Type string `json:"type"`
		SHA  string `json:"sha"`
	}
	switch err := s.API(ctx, http.MethodGet, p, nil, &entry); {
	case IsStatus(err, http.StatusNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("%s: %w", path, err)
	case entry.Type != "file":
		return "", fmt.Errorf("%s: is a %s, not a file", path, entry.Type)
	}
	return entry.SHA, nil
}

// GitURL returns the HTTP address of repo with AdminUser and AdminToken as
// basic-auth credentials, for git clone/fetch/push and git ls-remote (e.g.
// of refs/pull/<n>/head).
func (s *Server) GitURL(repo string) string {
	creds := url.UserPassword(s.AdminUser, s.AdminToken).String()
	return strings.Replace(s.URL, "://", "://"+creds+"@", 1) + "/" + repo + ".git"
}
