package source

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// TestCompact: the packs fetches leave behind are merged once there are
// maxPacks of them; every commit stays readable, those a force-push left
// behind and trees opened before the merge included.
func TestCompact(t *testing.T) {
	up, root := upstream(t)
	up.CopyDir(exampleRepo)
	first := up.Commit("Add the platform repo")
	srv := gitserver.NewHTTP(t, root)
	p := newPoller(t, srv.RepoURL(up.Name), Auth{})
	p.maxPacks = 4
	if _, err := p.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	early, err := p.FS(first)
	if err != nil {
		t.Fatal(err)
	}

	hashes := []string{first}
	for i := range 10 {
		if i == 5 {
			// Force-push: the commits 1 to 5 are no longer on the branch.
			up.Git("reset", "--quiet", "--hard", first)
		}
		up.WriteFile("tenants/search/notes.md", fmt.Sprintln("note", i))
		h := up.Commit(fmt.Sprint("Note ", i))
		hashes = append(hashes, h)
		if rev, err := p.Poll(t.Context()); err != nil || rev.Hash != h {
			t.Fatalf("poll %d: %s, %v; want %s", i, rev.Hash, err, h)
		}
		if n := packs(t, p.cfg.Dir); n >= p.maxPacks {
			t.Fatalf("after poll %d: %d packs, want fewer than %d", i, n, p.maxPacks)
		}
	}
	gitIn(t, p.cfg.Dir, "fsck", "--strict", "--no-progress")

	for i, h := range hashes {
		tree, err := p.FS(h)
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		want := "note " + strconv.Itoa(i-1) + "\n"
		if i == 0 {
			if _, err := fs.Stat(tree, "tenants/search/notes.md"); err == nil {
				t.Errorf("first commit has notes")
			}
			continue
		}
		if b, err := fs.ReadFile(tree, "tenants/search/notes.md"); err != nil || string(b) != want {
			t.Errorf("commit %d: notes %q, %v; want %q", i, b, err, want)
		}
	}
	want, err := loader.Load(tree(t, p, first))
	if err != nil {
		t.Fatal(err)
	}
	got, err := loader.Load(early)
	if err != nil {
		t.Fatalf("load a tree opened before compaction: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tree opened before compaction (-want +got):\n%s", diff)
	}
	changed, err := p.Changed(hashes[3], hashes[10])
	if err != nil || !cmp.Equal(changed, []string{"tenants/search/notes.md"}) {
		t.Errorf("Changed across a force-push: %v, %v", changed, err)
	}
}

func tree(t *testing.T, p *Poller, hash string) fs.FS {
	t.Helper()
	fsys, err := p.FS(hash)
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// packs counts the packs of a clone.
func packs(t *testing.T, dir string) int {
	t.Helper()
	for line := range strings.SplitSeq(gitIn(t, dir, "count-objects", "-v"), "\n") {
		if v, ok := strings.CutPrefix(line, "packs: "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("git count-objects: no packs line")
	return 0
}
