package source

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// TestFetchRef fetches a pull request's head, as hosting services publish
// it (refs/pull/N/head), without touching the followed branch.
func TestFetchRef(t *testing.T) {
	up, root := upstream(t)
	up.CopyDir(exampleRepo)
	main := up.Commit("Add the platform repo")
	up.Git("checkout", "--quiet", "-b", "feature")
	up.WriteFile("tenants/ledger/tenant.cue", "package k3sync\n")
	pr := up.CommitRef("Add ledger", "refs/heads/feature")
	up.UpdateRef("refs/pull/7/head", pr)
	srv := gitserver.NewHTTP(t, root)
	revs := newRecorder()
	dir := t.TempDir()
	p, err := New(Config{URL: srv.RepoURL(up.Name), Dir: dir}, quiet, revs.option())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	revs.next(t)

	rev, err := p.FetchRef(t.Context(), "refs/pull/7/head")
	if err != nil {
		t.Fatalf("FetchRef: %v", err)
	}
	if diff := cmp.Diff(revision(pr, "Add ledger", 1), rev); diff != "" {
		t.Errorf("FetchRef (-want +got):\n%s", diff)
	}
	if got := gitIn(t, dir, "rev-parse", "refs/k3sync/pull/7/head"); got != pr {
		t.Errorf("local copy of the ref: %s, want %s", got, pr)
	}
	changed, err := p.Changed(main, rev.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"tenants/ledger/tenant.cue"}, changed); diff != "" {
		t.Errorf("Changed(main, pull) (-want +got):\n%s", diff)
	}
	tree, err := p.FS(rev.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Open("tenants/ledger/tenant.cue"); err != nil {
		t.Errorf("pull request tree: %v", err)
	}
	// The branch and its subscribers are not affected.
	revs.none(t)
	if got := p.Status().Last.Hash; got != main {
		t.Errorf("status after FetchRef: %s, want the branch head %s", got, main)
	}
	if rev, err := p.Poll(t.Context()); err != nil || rev.Hash != main {
		t.Errorf("poll after FetchRef: %s, %v; want %s", rev.Hash, err, main)
	}
	revs.none(t)

	// The pull request is force-pushed, then a second one opened.
	up.WriteFile("tenants/ledger/tenant.cue", "package k3sync\n// v2\n")
	up.Git("reset", "--quiet", "--soft", "HEAD~1")
	pr2 := up.CommitRef("Add ledger, v2", "refs/heads/feature")
	up.UpdateRef("refs/pull/7/head", pr2)
	up.UpdateRef("refs/pull/7/merge", main)
	if rev, err := p.FetchRef(t.Context(), "refs/pull/7/head"); err != nil || rev.Hash != pr2 {
		t.Errorf("FetchRef after force-push: %s, %v; want %s", rev.Hash, err, pr2)
	}
	if rev, err := p.FetchRef(t.Context(), "refs/pull/7/merge"); err != nil || rev.Hash != main {
		t.Errorf("FetchRef of the merge ref next to the head: %s, %v; want %s", rev.Hash, err, main)
	}

	// Closed: forgotten.
	if err := p.ForgetRef("refs/pull/7/head"); err != nil {
		t.Fatal(err)
	}
	if refs := gitIn(t, dir, "for-each-ref", "--format=%(refname)", "refs/k3sync/pull/7/head"); refs != "" {
		t.Errorf("refs after ForgetRef: %q", refs)
	}
}

// TestFetchRefErrors: missing and malformed refs.
func TestFetchRefErrors(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	up.Commit("Add the platform repo")
	p := newPoller(t, up.FileURL(), Auth{})
	if _, err := p.FetchRef(t.Context(), "refs/pull/9/head"); !errors.Is(err, ErrRefNotFound) {
		t.Errorf("FetchRef of a missing ref: %v, want ErrRefNotFound", err)
	}
	if err := p.ForgetRef("refs/pull/9/head"); err != nil {
		t.Errorf("ForgetRef of a ref never fetched: %v", err)
	}
	for _, ref := range []string{"", "pull/7/head", "main", "refs/pull/7/../head", "refs/k3sync/pull/7/head", "refs/pull/*/head"} {
		_, err := p.FetchRef(t.Context(), ref)
		if err == nil || !strings.Contains(err.Error(), "want a full ref name") {
			t.Errorf("FetchRef(%q): %v, want a refusal", ref, err)
		}
		if err := p.ForgetRef(ref); err == nil {
			t.Errorf("ForgetRef(%q) accepted", ref)
		}
	}
}
