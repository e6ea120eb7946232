package source

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1" //nolint:gosec // a pack's checksum is SHA-1
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// writeZeros writes a file of size zero bytes: a few kilobytes once
// compressed, as in a pack.
func writeZeros(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// allocated returns the bytes fn allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestVerifyLargeBlobStreams: a revision's files are read through before
// it is handed out, a large one included (a data dump a tenant merged
// into its folder, which the loader then rejects by its size). The read
// streams it: the check never holds the whole file in memory.
func TestVerifyLargeBlobStreams(t *testing.T) {
	up, root := upstream(t)
	up.CopyDir(exampleRepo)
	const size = 24 << 20 // under the fetch's limit
	writeZeros(t, filepath.Join(up.Work, "tenants", "search", "dump.bin"), size)
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
	got := allocated(func() { err = p.verify(rev.Hash) })
	p.fetchMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if got > size/16 {
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

// TestFetchRefusesLargeObject: a branch or a pull request whose history
// holds a file over the limit (96 MiB of zeros: 96 KiB on the wire) is
// refused while its pack arrives, before go-git's indexer would hold the
// file whole: the fetch fails naming the limit, leaves nothing behind,
// and the clone keeps serving the last good revision.
func TestFetchRefusesLargeObject(t *testing.T) {
	up, root := upstream(t)
	up.CopyDir(exampleRepo)
	good := up.Commit("Add the platform repo")
	srv := gitserver.NewHTTP(t, root)
	dir := filepath.Join(t.TempDir(), "clone")
	p, err := New(Config{URL: srv.RepoURL(up.Name), Dir: dir}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}

	const size = 96 << 20
	up.Git("checkout", "--quiet", "-b", "feature")
	writeZeros(t, filepath.Join(up.Work, "tenants", "search", "dump.bin"), size)
	pr := up.CommitRef("Add a data dump", "refs/heads/feature")
	up.UpdateRef("refs/pull/7/head", pr)
	up.UpdateRef("refs/heads/main", pr) // merged

	for name, fetch := range map[string]func() error{
		"branch":       func() error { _, err := p.Poll(t.Context()); return err },
		"pull request": func() error { _, err := p.FetchRef(t.Context(), "refs/pull/7/head"); return err },
	} {
		var err error
		got := allocated(func() { err = fetch() })
		if !errors.Is(err, ErrObjectTooLarge) {
			t.Fatalf("%s: fetch: %v, want ErrObjectTooLarge", name, err)
		}
		if got > size/8 {
			t.Errorf("%s: the refused fetch allocated %d MiB for a %d MiB file", name, got>>20, size>>20)
		}
		if tmp, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "tmp_*")); len(tmp) > 0 {
			t.Errorf("%s: the refused pack left %v", name, tmp)
		}
	}
	if got := p.Status().Last.Hash; got != good {
		t.Errorf("last revision after the refused fetch: %s, want %s", got, good)
	}
	if got := gitIn(t, dir, "rev-parse", "main"); got != good {
		t.Errorf("the clone's branch moved to %s", got)
	}
	if fsys, err := p.FS(good); err != nil {
		t.Error(err)
	} else if _, err := fsys.Open("platform.cue"); err != nil {
		t.Errorf("the last good revision: %v", err)
	}
}

// TestCheckPackRefusesDeltaBomb: a delta of a few bytes may declare that
// it rebuilds a gigabyte; its declared result is what is bounded.
func TestCheckPackRefusesDeltaBomb(t *testing.T) {
	base := []byte("package k3sync\n")
	// Base size, then result size (1 GiB), as 7-bit groups.
	delta := append([]byte{byte(len(base))}, 0x80, 0x80, 0x80, 0x80, 0x04)
	var pack bytes.Buffer
	pack.WriteString("PACK\x00\x00\x00\x02\x00\x00\x00\x02")
	writeObject(t, &pack, 3, base) // a blob
	baseOffset := 12
	offset := pack.Len()
	writeObject(t, &pack, 6, delta, byte(offset-baseOffset)) // an offset delta on it
	pack.Write(make([]byte, 20))                             // the checksum is not reached
	err := checkPack(&pack, 32<<20)
	if !errors.Is(err, ErrObjectTooLarge) {
		t.Fatalf("checkPack: %v, want ErrObjectTooLarge", err)
	}
}

// writeObject appends a pack object: its type and size header, an offset
// delta's distance to its base (one byte), then its zlib data.
func writeObject(t *testing.T, w *bytes.Buffer, typ byte, data []byte, distance ...byte) {
	t.Helper()
	if len(data) >= 16 {
		t.Fatal("writeObject writes sizes under 16 only")
	}
	w.WriteByte(typ<<4 | byte(len(data)))
	w.Write(distance)
	z := zlib.NewWriter(w)
	if _, err := z.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFetchObjectLimitIsConfigured: git.maxObjectBytes sets the limit.
func TestFetchObjectLimitIsConfigured(t *testing.T) {
	up, root := upstream(t)
	up.CopyDir(exampleRepo)
	writeZeros(t, filepath.Join(up.Work, "tenants", "search", "dump.bin"), 2<<20)
	up.Commit("Add a data dump")
	srv := gitserver.NewHTTP(t, root)
	for limit, refused := range map[int64]bool{1 << 20: true, 4 << 20: false} {
		p, err := New(Config{URL: srv.RepoURL(up.Name), Dir: filepath.Join(t.TempDir(), "clone"), MaxObjectBytes: limit}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Poll(t.Context())
		var tooLarge *ObjectTooLargeError
		switch {
		case refused && (!errors.As(err, &tooLarge) || tooLarge.Limit != limit || tooLarge.Size != 2<<20):
			t.Errorf("limit %d: %v, want the 2 MiB file refused", limit, err)
		case !refused && err != nil:
			t.Errorf("limit %d: %v", limit, err)
		}
	}
}

// packRecorder is the pack writer behind a packGuard in tests.
type packRecorder struct {
	bytes.Buffer
	closed bool
}

func (r *packRecorder) Close() error { r.closed = true; return nil }

// testPack is a pack of two small blobs, with its checksum.
func testPack(t *testing.T) []byte {
	t.Helper()
	var pack bytes.Buffer
	pack.WriteString("PACK\x00\x00\x00\x02\x00\x00\x00\x02")
	writeObject(t, &pack, 3, []byte("package k3sync\n"))
	writeObject(t, &pack, 3, []byte("owners: []\n"))
	sum := sha1.Sum(pack.Bytes())
	pack.Write(sum[:])
	return pack.Bytes()
}

// writeChunks writes b through w in chunks of n bytes, then closes w; it
// fails the test when the guard hangs.
func writeChunks(t *testing.T, w io.WriteCloser, b []byte, n int) (writeErr, closeErr error) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(b) > 0 && writeErr == nil {
			c := b[:min(n, len(b))]
			b = b[len(c):]
			_, writeErr = w.Write(c)
		}
		closeErr = w.Close()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the pack guard hangs")
	}
	return writeErr, closeErr
}

// TestPackGuard: a sound pack reaches the pack writer byte for byte; a
// truncated one is closed with the scanner's error; a refused one never
// reaches the writer whole.
func TestPackGuard(t *testing.T) {
	pack := testPack(t)
	for _, chunk := range []int{1, 7, 1 << 10} {
		var rec packRecorder
		werr, cerr := writeChunks(t, newPackGuard(&rec, 1<<20, t.TempDir()), pack, chunk)
		if werr != nil || cerr != nil || !bytes.Equal(rec.Bytes(), pack) || !rec.closed {
			t.Errorf("chunks of %d: write %v, close %v, %d of %d bytes through, closed %v", chunk, werr, cerr, rec.Len(), len(pack), rec.closed)
		}
	}

	var rec packRecorder
	werr, cerr := writeChunks(t, newPackGuard(&rec, 1<<20, t.TempDir()), pack[:len(pack)/2], 5)
	if werr != nil || cerr == nil || !rec.closed {
		t.Errorf("truncated pack: write %v, close %v, closed %v; want a close error", werr, cerr, rec.closed)
	}

	rec = packRecorder{}
	large := testPack(t)
	werr, cerr = writeChunks(t, newPackGuard(&rec, 8, t.TempDir()), large, 3)
	if !errors.Is(werr, ErrObjectTooLarge) || !errors.Is(cerr, ErrObjectTooLarge) || rec.Len() >= len(large) || !rec.closed {
		t.Errorf("a 15-byte blob over an 8-byte limit: write %v, close %v, %d of %d bytes through, closed %v", werr, cerr, rec.Len(), len(large), rec.closed)
	}
}
