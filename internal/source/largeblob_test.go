package source

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// TestVerifyLargeBlobStreams: a revision's files are read through before
// it is handed out, a large one included (a data dump a tenant merged
// into its folder, which the loader then rejects by its size). The read
// streams it: the check never holds the whole file in memory.
func TestVerifyLargeBlobStreams(t *testing.T) {
	up, root := upstream(t)
	up.CopyDir(exampleRepo)
	const size = 96 << 20
	f, err := os.Create(filepath.Join(up.Work, "tenants", "search", "dump.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	up.Commit("Add a data dump")
	srv := gitserver.NewHTTP(t, root)
	p := newPoller(t, srv.RepoURL(up.Name), Auth{})
	rev, err := p.Poll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The poll checked the revision; check it again, as after a restart.
	p.fetchMu.Lock()
	p.verified = ""
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = p.verify(rev.Hash)
	runtime.ReadMemStats(&after)
	p.fetchMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > size/16 {
		t.Errorf("checking the revision allocated %d MiB for a %d MiB file", got>>20, size>>20)
	}
	fsys, err := p.FS(rev.Hash)
	if err != nil {
		t.Fatal(err)
	}
	info, err := fsys.(interface {
		Stat(string) (os.FileInfo, error)
	}).Stat("tenants/search/dump.bin")
	if err != nil || info.Size() != size {
		t.Fatalf("stat the dump: %v, %v", info, err)
	}
}
