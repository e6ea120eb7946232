package source

import (
	"io"
	"io/fs"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// exampleRepo is the platform repo of the examples.
const exampleRepo = "../../examples/platform-repo"

// waitTimeout bounds every wait for something asynchronous; reaching it
// fails the test.
const waitTimeout = 30 * time.Second

// upstream is a bare repository served under root, with a work tree.
func upstream(t *testing.T) (*gitserver.Repo, string) {
	t.Helper()
	root := t.TempDir()
	return gitserver.NewRepo(t, root, "platform.git"), root
}

// polledFS polls up's branch with a new poller and returns the tree of
// its commit h.
func polledFS(t *testing.T, up *gitserver.Repo, h string) fs.FS {
	t.Helper()
	p := newPoller(t, up.FileURL(), Auth{})
	if _, err := p.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	fsys, err := p.FS(h)
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// quiet discards the poller's logs.
var quiet = WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// newPoller is a poller of url with a clone in a fresh folder.
func newPoller(t *testing.T, url string, auth Auth, opts ...Option) *Poller {
	t.Helper()
	p, err := New(Config{URL: url, Dir: filepath.Join(t.TempDir(), "clone"), Auth: auth}, append([]Option{quiet}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// recorder collects the revisions OnRevision reports.
type recorder chan Revision

func newRecorder() recorder { return make(recorder, 100) }

func (r recorder) option() Option { return OnRevision(func(rev Revision) { r <- rev }) }

// next waits for the next revision.
func (r recorder) next(t *testing.T) Revision {
	t.Helper()
	select {
	case rev := <-r:
		return rev
	case <-time.After(waitTimeout):
		t.Fatalf("no revision reported within %s", waitTimeout)
		return Revision{}
	}
}

// none fails when a revision was reported.
func (r recorder) none(t *testing.T) {
	t.Helper()
	select {
	case rev := <-r:
		t.Fatalf("revision %s reported, want none", rev.Hash)
	default:
	}
}

// gitIn runs git in dir.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// packedObjects counts the objects in the packs of the clone.
func packedObjects(t *testing.T, dir string) int {
	t.Helper()
	for line := range strings.SplitSeq(gitIn(t, dir, "count-objects", "-v"), "\n") {
		if v, ok := strings.CutPrefix(line, "in-pack: "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("git count-objects: no in-pack line")
	return 0
}

// revision is what the poller should report for the n-th commit of a
// gitserver.Repo.
func revision(hash, subject string, n int) Revision {
	return Revision{
		Hash:        hash,
		Subject:     subject,
		Author:      gitserver.AuthorName,
		AuthorEmail: gitserver.AuthorEmail,
		Time:        gitserver.Time(n),
	}
}
