package source

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// TestPollHTTP follows a branch over smart HTTP: the first poll clones,
// later polls fetch only what is new, and a restarted poller resumes from
// its clone on disk.
func TestPollHTTP(t *testing.T) {
	up, root := upstream(t)
	up.CopyDir(exampleRepo)
	h1 := up.Commit("Add the platform repo")
	srv := gitserver.NewHTTP(t, root)
	revs := newRecorder()
	dir := filepath.Join(t.TempDir(), "clone")
	p, err := New(Config{URL: srv.RepoURL(up.Name), Dir: dir}, quiet, revs.option())
	if err != nil {
		t.Fatal(err)
	}

	// Initial clone.
	rev, err := p.Poll(t.Context())
	if err != nil {
		t.Fatalf("first poll: %v", err)
	}
	want1 := revision(h1, "Add the platform repo", 0)
	if diff := cmp.Diff(want1, rev); diff != "" {
		t.Errorf("first poll (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want1, revs.next(t)); diff != "" {
		t.Errorf("first revision reported (-want +got):\n%s", diff)
	}
	// A bare clone git itself reads: no work tree, HEAD on the branch.
	if got := gitIn(t, dir, "rev-parse", "--is-bare-repository"); got != "true" {
		t.Errorf("clone is bare: %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "platform.cue")); !os.IsNotExist(err) {
		t.Errorf("clone has a work tree: stat platform.cue: %v", err)
	}
	if got := gitIn(t, dir, "rev-parse", "HEAD"); got != h1 {
		t.Errorf("HEAD of the clone: %s, want %s", got, h1)
	}
	srv.Requests()
	objects := packedObjects(t, dir)

	// Nothing new: the ref advertisement is all that is exchanged.
	rev, err = p.Poll(t.Context())
	if err != nil {
		t.Fatalf("second poll: %v", err)
	}
	if diff := cmp.Diff(want1, rev); diff != "" {
		t.Errorf("second poll (-want +got):\n%s", diff)
	}
	revs.none(t)
	assertRefsOnly(t, srv.Requests())
	if got := packedObjects(t, dir); got != objects {
		t.Errorf("objects after a no-op poll: %d, want %d", got, objects)
	}

	// A new commit: only its objects are transferred.
	up.WriteFile("tenants/search/tenant.cue", readFile(t, exampleRepo+"/tenants/search/tenant.cue")+"\n// reviewed\n")
	h2 := up.Commit("Review search")
	rev, err = p.Poll(t.Context())
	if err != nil {
		t.Fatalf("third poll: %v", err)
	}
	want2 := revision(h2, "Review search", 1)
	if diff := cmp.Diff(want2, rev); diff != "" {
		t.Errorf("third poll (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want2, revs.next(t)); diff != "" {
		t.Errorf("revision reported (-want +got):\n%s", diff)
	}
	// The commit, the trees /, tenants/, tenants/search/ and the blob.
	if got := packedObjects(t, dir) - objects; got != 5 {
		t.Errorf("objects fetched for a one-file commit: %d, want 5", got)
	}
	if diff := cmp.Diff(Status{Last: want2}, p.Status(), cmpStatus); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	// A restarted poller finds the clone up to date.
	srv.Requests()
	p2, err := New(Config{URL: srv.RepoURL(up.Name), Dir: dir}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if rev, err := p2.Poll(t.Context()); err != nil || rev.Hash != h2 {
		t.Fatalf("poll after restart: %v, %v; want %s", rev.Hash, err, h2)
	}
	assertRefsOnly(t, srv.Requests())
}

// cmpStatus compares statuses without their times.
var cmpStatus = cmp.FilterPath(func(p cmp.Path) bool {
	name := p.Last().String()
	return name == ".LastFetch" || name == ".LastAttempt"
}, cmp.Ignore())

// assertRefsOnly fails unless every request was for the ref
// advertisement.
func assertRefsOnly(t *testing.T, reqs []gitserver.Request) {
	t.Helper()
	if len(reqs) == 0 {
		t.Error("no request made")
	}
	for _, r := range reqs {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.Path, "/info/refs") {
			t.Errorf("request %s %s, want only GET .../info/refs", r.Method, r.Path)
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPollFile follows a branch over file://.
func TestPollFile(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	h1 := up.Commit("Add the platform repo")
	revs := newRecorder()
	p := newPoller(t, up.FileURL(), Auth{}, revs.option())
	if rev, err := p.Poll(t.Context()); err != nil || rev.Hash != h1 {
		t.Fatalf("first poll: %s, %v; want %s", rev.Hash, err, h1)
	}
	revs.next(t)
	if _, err := p.Poll(t.Context()); err != nil {
		t.Fatalf("second poll: %v", err)
	}
	revs.none(t)
	up.Remove("tenants/analytics")
	h2 := up.Commit("Remove analytics")
	rev, err := p.Poll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(revision(h2, "Remove analytics", 1), rev); diff != "" {
		t.Errorf("poll (-want +got):\n%s", diff)
	}
	if got := revs.next(t).Hash; got != h2 {
		t.Errorf("revision reported: %s, want %s", got, h2)
	}
}

// TestForcePush follows a branch whose history was rewritten; the
// revision it replaced stays readable.
func TestForcePush(t *testing.T) {
	up, root := upstream(t)
	up.CopyDir(exampleRepo)
	h1 := up.Commit("Add the platform repo")
	up.WriteFile("tenants/search/notes.md", "wip\n")
	h2 := up.Commit("WIP")
	srv := gitserver.NewHTTP(t, root)
	revs := newRecorder()
	p := newPoller(t, srv.RepoURL(up.Name), Auth{}, revs.option())
	if rev, err := p.Poll(t.Context()); err != nil || rev.Hash != h2 {
		t.Fatalf("first poll: %s, %v; want %s", rev.Hash, err, h2)
	}
	revs.next(t)

	up.Git("reset", "--quiet", "--hard", h1)
	up.WriteFile("tenants/checkout/notes.md", "done\n")
	h3 := up.Commit("Done")
	rev, err := p.Poll(t.Context())
	if err != nil {
		t.Fatalf("poll after force-push: %v", err)
	}
	if rev.Hash != h3 {
		t.Fatalf("poll after force-push: %s, want %s", rev.Hash, h3)
	}
	if got := revs.next(t).Hash; got != h3 {
		t.Errorf("revision reported: %s, want %s", got, h3)
	}
	changed, err := p.Changed(h2, h3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"tenants/checkout/notes.md", "tenants/search/notes.md"}, changed); diff != "" {
		t.Errorf("Changed(replaced, new) (-want +got):\n%s", diff)
	}

	// Rolled back to a commit the clone has: nothing to transfer, the
	// branch still moves.
	up.Git("reset", "--quiet", "--hard", h1)
	up.Git("push", "--quiet", "--force", "origin", "HEAD:refs/heads/"+gitserver.Branch)
	if rev, err := p.Poll(t.Context()); err != nil || rev.Hash != h1 {
		t.Fatalf("poll after rollback: %s, %v; want %s", rev.Hash, err, h1)
	}
	if got := revs.next(t).Hash; got != h1 {
		t.Errorf("revision reported: %s, want %s", got, h1)
	}
}
