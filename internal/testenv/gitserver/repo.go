package gitserver

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Branch is the branch Repo commits to.
const Branch = "main"

// Identity of the commits Repo makes.
const (
	AuthorName  = "Ada Lovelace"
	AuthorEmail = "ada@example.com"
)

// Epoch is the date of a Repo's first commit; each further commit is one
// minute later.
var Epoch = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

// Repo is an upstream: a bare repository and a work tree to commit into it.
type Repo struct {
	// Path is the bare repository; its file:// URL is FileURL.
	Path string
	// Name is the repository's path under the servers' root, e.g.
	// "platform.git".
	Name string
	// Work is the work tree.
	Work string

	t       testing.TB
	env     []string
	commits int
}

// NewRepo creates root/name as an empty bare repository whose default
// branch is Branch, and a work tree cloned from it.
func NewRepo(t testing.TB, root, name string) *Repo {
	t.Helper()
	RequireGit(t)
	r := &Repo{
		Path: filepath.Join(root, name),
		Name: name,
		Work: t.TempDir(),
		t:    t,
		env:  gitEnv(t.TempDir()),
	}
	run(t, root, r.env, "init", "--quiet", "--bare", "--initial-branch="+Branch, r.Path)
	run(t, r.Work, r.env, "init", "--quiet", "--initial-branch="+Branch, ".")
	run(t, r.Work, r.env, "remote", "add", "origin", r.Path)
	return r
}

// FileURL is the file:// URL of the bare repository.
func (r *Repo) FileURL() string { return "file://" + filepath.ToSlash(r.Path) }

// Git runs git in the work tree and returns its trimmed output.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return run(r.t, r.Work, r.env, args...)
}

// GitBare runs git in the bare repository.
func (r *Repo) GitBare(args ...string) string {
	r.t.Helper()
	return run(r.t, r.Path, r.env, args...)
}

// WriteFile writes a file of the work tree, creating its folders.
func (r *Repo) WriteFile(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.Work, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// Remove removes a file or folder of the work tree.
func (r *Repo) Remove(name string) {
	r.t.Helper()
	if err := os.RemoveAll(filepath.Join(r.Work, filepath.FromSlash(name))); err != nil {
		r.t.Fatal(err)
	}
}

// CopyDir copies the files of the folder src into the work tree.
func (r *Repo) CopyDir(src string) {
	r.t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return fmt.Errorf("copy %s: %w", p, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("copy %s: %w", p, err)
		}
		r.WriteFile(filepath.ToSlash(rel), string(b))
		return nil
	})
	if err != nil {
		r.t.Fatalf("copy %s: %v", src, err)
	}
}

// Commit commits every change of the work tree (even none) and
// force-pushes it to Branch. It returns the commit hash.
func (r *Repo) Commit(subject string) string {
	r.t.Helper()
	return r.CommitRef(subject, "refs/heads/"+Branch)
}

// CommitRef commits every change of the work tree (even none) and
// force-pushes it to ref of the bare repository, e.g. refs/pull/7/head.
// It returns the commit hash.
func (r *Repo) CommitRef(subject, ref string) string {
	r.t.Helper()
	when := Time(r.commits).Format(time.RFC3339)
	r.commits++
	env := append(append([]string(nil), r.env...),
		"GIT_AUTHOR_NAME="+AuthorName, "GIT_AUTHOR_EMAIL="+AuthorEmail, "GIT_AUTHOR_DATE="+when,
		"GIT_COMMITTER_NAME="+AuthorName, "GIT_COMMITTER_EMAIL="+AuthorEmail, "GIT_COMMITTER_DATE="+when,
	)
	run(r.t, r.Work, env, "add", "--all")
	run(r.t, r.Work, env, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", subject)
	r.Git("push", "--quiet", "--force", "origin", "HEAD:"+ref)
	return r.Git("rev-parse", "HEAD")
}

// Time is the date of the commit made by the n-th call of Commit (from 0).
func Time(n int) time.Time { return Epoch.Add(time.Duration(n) * time.Minute) }

// UpdateRef points ref (e.g. refs/pull/7/head) of the bare repository at
// hash, as a hosting service does for a pull request.
func (r *Repo) UpdateRef(ref, hash string) {
	r.t.Helper()
	if hash == "" {
		r.GitBare("update-ref", "-d", ref)
		return
	}
	r.GitBare("update-ref", ref, hash)
}

// String names the repository in test output.
func (r *Repo) String() string { return fmt.Sprintf("upstream %s", r.Path) }
