package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
)

// benchTenants is the size of the benchmarked repo.
const benchTenants = 1000

// benchRepo is an upstream of benchTenants generated tenants served over
// smart HTTP, and a poller that has cloned it.
func benchRepo(b *testing.B) (*gitserver.Repo, *Poller, string) {
	b.Helper()
	root := b.TempDir()
	up := gitserver.NewRepo(b, root, "platform.git")
	if err := repogen.WriteDir(up.Work, repogen.Options{Tenants: benchTenants}); err != nil {
		b.Fatal(err)
	}
	h := up.Commit("Generate tenants")
	srv := gitserver.NewHTTP(b, root)
	p, err := New(Config{URL: srv.RepoURL(up.Name), Dir: filepath.Join(b.TempDir(), "clone")}, quiet)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.Poll(b.Context()); err != nil {
		b.Fatal(err)
	}
	return up, p, h
}

// BenchmarkPollNoop: a poll when the branch has not moved, over HTTP
// (one ref advertisement through git http-backend).
func BenchmarkPollNoop(b *testing.B) {
	_, p, h := benchRepo(b)
	for b.Loop() {
		rev, err := p.Poll(b.Context())
		if err != nil || rev.Hash != h {
			b.Fatal(rev.Hash, err)
		}
	}
}

// BenchmarkPollOneTenantChanged: a poll that fetches a commit changing one
// tenant file.
func BenchmarkPollOneTenantChanged(b *testing.B) {
	up, p, _ := benchRepo(b)
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		up.WriteFile("tenants/t0001/notes.md", string(rune('a'+i%26)))
		h := up.Commit("Notes")
		b.StartTimer()
		if rev, err := p.Poll(b.Context()); err != nil || rev.Hash != h {
			b.Fatal(rev.Hash, err)
		}
	}
}

// BenchmarkInitialClone: the first poll into an empty folder.
func BenchmarkInitialClone(b *testing.B) {
	up, p, h := benchRepo(b)
	_ = up
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "clone")
		q, err := New(Config{URL: p.URL(), Dir: dir}, quiet)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if rev, err := q.Poll(b.Context()); err != nil || rev.Hash != h {
			b.Fatal(rev.Hash, err)
		}
	}
}

// BenchmarkLoadTreeFS: loader.Load over the commit's tree.
func BenchmarkLoadTreeFS(b *testing.B) {
	_, p, h := benchRepo(b)
	for b.Loop() {
		fsys, err := p.FS(h)
		if err != nil {
			b.Fatal(err)
		}
		repo, err := loader.Load(fsys)
		if err != nil || len(repo.Tenants) != benchTenants {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadDirFS: loader.Load over the same files in a folder, the
// baseline for BenchmarkLoadTreeFS.
func BenchmarkLoadDirFS(b *testing.B) {
	up, _, _ := benchRepo(b)
	fsys := os.DirFS(up.Work)
	for b.Loop() {
		repo, err := loader.Load(fsys)
		if err != nil || len(repo.Tenants) != benchTenants {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadTreeFS: reading every file of the tree, without CUE.
func BenchmarkReadTreeFS(b *testing.B) {
	_, p, h := benchRepo(b)
	for b.Loop() {
		fsys, err := p.FS(h)
		if err != nil {
			b.Fatal(err)
		}
		entries, err := fsys.(interface {
			ReadDir(string) ([]os.DirEntry, error)
		}).ReadDir("tenants")
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range entries {
			if _, err := fsys.(interface{ ReadFile(string) ([]byte, error) }).ReadFile("tenants/" + e.Name() + "/tenant.cue"); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkChanged: the files changed by a one-tenant commit.
func BenchmarkChanged(b *testing.B) {
	up, p, h1 := benchRepo(b)
	up.WriteFile("tenants/t0500/notes.md", "x")
	h2 := up.Commit("Notes")
	if _, err := p.Poll(b.Context()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		changed, err := p.Changed(h1, h2)
		if err != nil || len(changed) != 1 {
			b.Fatal(changed, err)
		}
	}
}

// BenchmarkCompact: merging the packs of the clone into one (every
// defaultMaxPacks fetches that brought commits).
func BenchmarkCompact(b *testing.B) {
	up, p, _ := benchRepo(b)
	for i := range 5 {
		up.WriteFile("tenants/t0001/notes.md", string(rune('a'+i)))
		up.Commit("Notes")
		if _, err := p.Poll(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	p.maxPacks = 1
	for b.Loop() {
		p.fetchMu.Lock()
		err := p.compact()
		p.fetchMu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}
