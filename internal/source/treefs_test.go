package source

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/loader"
)

// TestFSLoadsLikeAFolder: the example platform repo, committed, loads from
// the commit's tree exactly as from the folder.
func TestFSLoadsLikeAFolder(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	h := up.Commit("Add the platform repo")
	tree := polledFS(t, up, h)
	want, err := loader.Load(os.DirFS(exampleRepo))
	if err != nil {
		t.Fatalf("load the folder: %v", err)
	}
	got, err := loader.Load(tree)
	if err != nil {
		t.Fatalf("load the tree: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("model from the tree (-folder +tree):\n%s", diff)
	}
	var files []string
	err = filepath.WalkDir(exampleRepo, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(exampleRepo, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(tree, files...); err != nil {
		t.Error(err)
	}
}

// TestFSInvalidRepoErrors: an invalid repo fails from the tree with the
// same FILE:LINE:COL errors as from the folder.
func TestFSInvalidRepoErrors(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	up.WriteFile("tenants/search/broken.cue", "package k3sync\n\nkafka: topics: \"search.x\": partitions: \"many\"\n")
	h := up.Commit("Break search")
	tree := polledFS(t, up, h)
	_, folderErr := loader.Load(os.DirFS(up.Work))
	_, treeErr := loader.Load(tree)
	want, ok1 := loader.Validation(folderErr)
	got, ok2 := loader.Validation(treeErr)
	if !ok1 || !ok2 {
		t.Fatalf("want validation errors, got %v and %v", folderErr, treeErr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors from the tree (-folder +tree):\n%s", diff)
	}
}

// TestFSTree: folders, executables, symbolic links and names Git sorts
// differently from io/fs.
func TestFSTree(t *testing.T) {
	up, _ := upstream(t)
	up.WriteFile("a.b", "dot\n")
	up.WriteFile("a/c.txt", "c\n")
	up.WriteFile("a-b/d.txt", "d\n")
	up.WriteFile("deep/er/still/file.cue", "package k3sync\n")
	up.WriteFile("bin/run.sh", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(up.Work, "bin/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"link-file":       "a/c.txt",
		"link-dir":        "deep/er",
		"a/up":            "../a.b",
		"escape":          "../outside",
		"absolute":        "/etc/passwd",
		"loop":            "loop",
		"dangling":        "nowhere",
		"deep/link-chain": "../link-dir/still",
	} {
		if err := os.Symlink(target, filepath.Join(up.Work, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	h := up.Commit("Odd tree")
	fsys := polledFS(t, up, h)

	t.Run("listing", func(t *testing.T) {
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, fs.FormatDirEntry(e))
		}
		want := []string{
			"d a/", "d a-b/", "- a.b", "L absolute", "d bin/", "L dangling", "d deep/",
			"L escape", "L link-dir", "L link-file", "L loop",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ReadDir(.) (-want +got):\n%s", diff)
		}
	})

	t.Run("reads", func(t *testing.T) {
		tests := []struct {
			name     string
			read     func() (string, error)
			want     string
			wantErr  error
			wantMode fs.FileMode
		}{
			{name: "file", read: readAll(fsys, "a/c.txt"), want: "c\n"},
			{name: "link to a file", read: readAll(fsys, "link-file"), want: "c\n"},
			{name: "link with ..", read: readAll(fsys, "a/up"), want: "dot\n"},
			{name: "through a linked folder", read: readAll(fsys, "link-dir/still/file.cue"), want: "package k3sync\n"},
			{name: "chain of links", read: readAll(fsys, "deep/link-chain/file.cue"), want: "package k3sync\n"},
			{name: "readlink", read: func() (string, error) { return fs.ReadLink(fsys, "escape") }, want: "../outside"},
			{name: "link escaping", read: readAll(fsys, "escape"), wantErr: errLinkEscapes},
			{name: "absolute link", read: readAll(fsys, "absolute"), wantErr: errLinkEscapes},
			{name: "link loop", read: readAll(fsys, "loop"), wantErr: errLinkLoop},
			{name: "dangling link", read: readAll(fsys, "dangling"), wantErr: fs.ErrNotExist},
			{name: "missing", read: readAll(fsys, "a/missing"), wantErr: fs.ErrNotExist},
			{name: "below a file", read: readAll(fsys, "a.b/x"), wantErr: errNotDir},
			{name: "folder", read: readAll(fsys, "a"), wantErr: errIsDir},
			{name: "invalid path", read: readAll(fsys, "../a.b"), wantErr: fs.ErrInvalid},
			{name: "invalid path with slash", read: readAll(fsys, "/a.b"), wantErr: fs.ErrInvalid},
			{name: "readlink of a file", read: func() (string, error) { return fs.ReadLink(fsys, "a.b") }, wantErr: errNotALink},
			{name: "readdir of a file", read: func() (string, error) { _, err := fs.ReadDir(fsys, "a.b"); return "", err }, wantErr: errNotDir},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := tt.read()
				if tt.wantErr != nil {
					var pe *fs.PathError
					if !errors.Is(err, tt.wantErr) || !errors.As(err, &pe) {
						t.Fatalf("got %q, %v; want a *fs.PathError of %v", got, err, tt.wantErr)
					}
					return
				}
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
			})
		}
	})

	t.Run("modes", func(t *testing.T) {
		tests := []struct {
			name string
			stat func(fs.FS, string) (fs.FileInfo, error)
			want fs.FileMode
			size int64
		}{
			{name: "bin/run.sh", stat: fs.Stat, want: 0o755, size: 10},
			{name: "a.b", stat: fs.Stat, want: 0o644, size: 4},
			{name: "a", stat: fs.Stat, want: fs.ModeDir | 0o755},
			{name: ".", stat: fs.Stat, want: fs.ModeDir | 0o755},
			{name: "link-file", stat: fs.Stat, want: 0o644, size: 2},
			{name: "link-file", stat: fs.Lstat, want: fs.ModeSymlink | 0o777, size: 7},
			{name: "link-dir", stat: fs.Stat, want: fs.ModeDir | 0o755},
		}
		for _, tt := range tests {
			info, err := tt.stat(fsys, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode() != tt.want || info.Size() != tt.size || info.Name() != filepath.Base(tt.name) {
				t.Errorf("stat %s: %s %s %d, want %s %d", tt.name, info.Name(), info.Mode(), info.Size(), tt.want, tt.size)
			}
			if !info.ModTime().Equal(revision("", "", 0).Time) {
				t.Errorf("stat %s: time %v, want the commit's", tt.name, info.ModTime())
			}
		}
	})

	t.Run("fstest", func(t *testing.T) {
		// Links that resolve nowhere are left out of TestFS, which opens
		// every entry.
		sub, err := fs.Sub(fsys, "deep")
		if err != nil {
			t.Fatal(err)
		}
		if err := fstest.TestFS(sub, "er/still/file.cue"); err != nil {
			t.Error(err)
		}
		for dir, files := range map[string][]string{"a": {"c.txt", "up"}, "a-b": {"d.txt"}, "bin": {"run.sh"}} {
			sub, err := fs.Sub(fsys, dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := fstest.TestFS(sub, files...); err != nil {
				t.Errorf("%s: %v", dir, err)
			}
		}
	})
}

// readAll reads name through Open, as fs.ReadFile does without ReadFileFS.
func readAll(fsys fs.FS, name string) func() (string, error) {
	return func() (string, error) {
		f, err := fsys.Open(name)
		if err != nil {
			return "", err
		}
		defer func() { _ = f.Close() }()
		b, err := io.ReadAll(f)
		if err != nil {
			return "", err
		}
		via, err := fs.ReadFile(fsys, name)
		if err != nil || string(via) != string(b) {
			return "", errors.Join(errors.New("ReadFile differs from Open"), err)
		}
		return string(b), nil
	}
}

// TestFSUnknownRevision: hashes not in the clone, or not hashes.
func TestFSUnknownRevision(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	up.Commit("Add the platform repo")
	p := newPoller(t, up.FileURL(), Auth{})
	if _, err := p.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.FS("0123456789012345678901234567890123456789"); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("FS of an unknown commit: %v, want ErrUnknownRevision", err)
	}
	for _, h := range []string{"", "HEAD", "main", "0123456"} {
		if _, err := p.FS(h); err == nil || errors.Is(err, ErrUnknownRevision) {
			t.Errorf("FS(%q): %v, want a malformed-hash error", h, err)
		}
	}
}

// TestFSConcurrentWithFetches: trees are loaded while fetches write to the
// clone and compact it (run with -race).
func TestFSConcurrentWithFetches(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	h := up.Commit("Add the platform repo")
	p := newPoller(t, up.FileURL(), Auth{})
	p.maxPacks = 2
	if _, err := p.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	want, err := loader.Load(os.DirFS(exampleRepo))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 3 {
				tree, err := p.FS(h)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := loader.Load(tree)
				if err != nil {
					t.Error(err)
					return
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("model (-want +got):\n%s", diff)
				}
			}
		})
	}
	for i := range 5 {
		up.WriteFile("tenants/search/notes.md", string(rune('a'+i)))
		up.Commit("Notes")
		if _, err := p.Poll(t.Context()); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	if n := packs(t, p.cfg.Dir); n != 1 {
		t.Errorf("%d packs, want 1 after compactions", n)
	}
}

// TestTreeFSLongLink: a symbolic link's target is read only when it is
// at most as long as Linux allows (a tenant's link blob could be
// megabytes; a file system would not hold it).
func TestTreeFSLongLink(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	up.Commit("Add the platform repo")
	long := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(long, []byte(strings.Repeat("a/", 1<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	blob := up.Git("hash-object", "-w", long)
	up.Git("update-index", "--add", "--cacheinfo", "120000,"+blob+",tenants/search/long.cue")
	up.Git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "A long link")
	up.Git("push", "--quiet", "--force", "origin", "HEAD:refs/heads/main")
	h := up.Git("rev-parse", "HEAD")
	fsys := polledFS(t, up, h)
	if _, err := fs.ReadFile(fsys, "tenants/search/long.cue"); !errors.Is(err, errLinkTooLong) {
		t.Errorf("read through the long link: %v, want %v", err, errLinkTooLong)
	}
	if _, err := fs.ReadLink(fsys, "tenants/search/long.cue"); !errors.Is(err, errLinkTooLong) {
		t.Errorf("readlink of the long link: %v, want %v", err, errLinkTooLong)
	}
}
