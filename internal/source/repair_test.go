package source

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// corruptPacks flips bytes in the middle of every pack of the clone in
// dir, past the first objects, as a failing disk would.
func corruptPacks(t *testing.T, dir string) {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
	if err != nil || len(packs) == 0 {
		t.Fatalf("no pack in %s: %v", dir, err)
	}
	for _, pack := range packs {
		b, err := os.ReadFile(pack)
		if err != nil {
			t.Fatal(err)
		}
		for i := 200; i < len(b)-40; i += 7 {
			b[i] ^= 0xff
		}
		if err := os.WriteFile(pack, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree reads every file of commit hash; the first error, if any.
func readTree(p *Poller, hash string) (map[string]string, error) {
	fsys, err := p.FS(hash)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		files[name] = string(b)
		return err
	})
	return files, err
}

// logSink collects log lines.
type logSink struct{ bytes.Buffer }

func (l *logSink) logger() Option { return WithLogger(slog.New(slog.NewTextHandler(&l.Buffer, nil))) }

// TestCorruptCloneIsClonedAgain: once a read finds the clone corrupt, the
// next poll moves it aside, clones again and serves the revision whole; a
// fetch that fails on the network clones nothing; a clone corrupt again
// right after waits for the re-clone backoff instead of cloning each poll.
func TestCorruptCloneIsClonedAgain(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	h1 := up.Commit("Add the platform repo")
	ref := newPoller(t, up.FileURL(), Auth{})
	if _, err := ref.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	want, err := readTree(ref, h1)
	if err != nil || len(want) == 0 {
		t.Fatalf("read a fresh clone: %d files, %v", len(want), err)
	}

	var logs logSink
	reclones := 0
	p := newPoller(t, up.FileURL(), Auth{}, logs.logger(), OnReclone(func() { reclones++ }))
	if _, err := p.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The remote is gone for a poll: a network failure, not corruption.
	if err := os.Rename(up.Path, up.Path+".away"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Poll(t.Context()); err == nil {
		t.Fatal("a poll of a missing remote succeeded")
	}
	if err := os.Rename(up.Path+".away", up.Path); err != nil {
		t.Fatal(err)
	}
	if reclones != 0 {
		t.Fatalf("a network failure re-cloned %d times", reclones)
	}

	corruptPacks(t, p.cfg.Dir)
	if _, err := readTree(p, h1); err == nil {
		t.Fatal("the corrupted clone still reads: the test corrupts nothing")
	}
	rev, err := p.Poll(t.Context())
	if err != nil || rev.Hash != h1 {
		t.Fatalf("poll after the corruption: %s, %v; want %s", rev.Hash, err, h1)
	}
	if reclones != 1 {
		t.Errorf("%d re-clones, want 1", reclones)
	}
	if !strings.Contains(logs.String(), `msg="git clone corrupt: cloning again"`) {
		t.Errorf("no log line for the re-clone:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(p.cfg.Dir+corruptSuffix, "HEAD")); err != nil {
		t.Errorf("the corrupt clone was not kept aside: %v", err)
	}

	// Corrupt again at once: no second re-clone before the backoff.
	corruptPacks(t, p.cfg.Dir)
	if _, err := readTree(p, h1); err == nil {
		t.Fatal("the corrupted clone still reads")
	}
	for range 3 {
		if _, err := p.Poll(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if reclones != 1 {
		t.Errorf("%d re-clones within the backoff, want 1", reclones)
	}
	if !strings.Contains(logs.String(), `msg="git clone corrupt: re-clone postponed"`) {
		t.Errorf("no log line for the postponed re-clone:\n%s", logs.String())
	}

	// The backoff has passed: the next poll clones again and the
	// revision reads whole, as upstream has it.
	p.recloneAt = time.Time{}
	if rev, err := p.Poll(t.Context()); err != nil || rev.Hash != h1 || reclones != 2 {
		t.Fatalf("poll after the backoff: %s, %v, %d re-clones; want %s and 2", rev.Hash, err, reclones, h1)
	}
	got, err := readTree(p, h1)
	if err != nil {
		t.Fatalf("after the re-clone the revision still cannot be read: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the revision after the re-clone (-upstream +served):\n%s", diff)
	}
}

// TestCorruptCloneAtStart: a clone corrupted while the daemon was down is
// found by the first poll, which reads the head whole before handing it
// out, and cloned again.
func TestCorruptCloneAtStart(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	h1 := up.Commit("Add the platform repo")
	p := newPoller(t, up.FileURL(), Auth{})
	if _, err := p.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	corruptPacks(t, p.cfg.Dir)

	reclones := 0
	q, err := New(Config{URL: up.FileURL(), Dir: p.cfg.Dir}, quiet, OnReclone(func() { reclones++ }))
	if err != nil {
		t.Fatal(err)
	}
	rev, err := q.Poll(t.Context())
	if err != nil || rev.Hash != h1 {
		t.Fatalf("first poll on a corrupt clone: %s, %v; want %s", rev.Hash, err, h1)
	}
	if reclones != 1 {
		t.Errorf("%d re-clones, want 1", reclones)
	}
	if _, err := readTree(q, h1); err != nil {
		t.Errorf("the revision cannot be read after the first poll: %v", err)
	}
}
