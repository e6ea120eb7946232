package source

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/loader"
)

// oddTree writes, in the work tree of up (or any folder), the files and
// symbolic links of TestFSTree plus a platform repo whose tenants link
// inside the repo, to another tenant, out of it and to an absolute path.
func oddTree(t *testing.T, write func(name, content string), dir string) {
	t.Helper()
	for name, content := range map[string]string{
		"a.b":                     "dot\n",
		"a/c.txt":                 "c\n",
		"deep/er/still/file.cue":  "package k3sync\n",
		"platform.cue":            "package k3sync\n\ngateways: edge: {}\n",
		"tenants/a/tenant.cue":    "package k3sync\n\nowners: [\"a@x.y\"]\n",
		"tenants/b/tenant.cue":    "package k3sync\n\nowners: [\"b@x.y\"]\n",
		"tenants/c/tenant.cue":    "package k3sync\n\nowners: [\"c@x.y\"]\n",
		"tenants/d/tenant.cue":    "package k3sync\n\nowners: [\"d@x.y\"]\n",
		"tenants/e/tenant.cue":    "package k3sync\n\nowners: [\"e@x.y\"]\n",
		"tenants/shared/x.cue.in": "policies: drift: \"revert\"\n",
	} {
		write(name, content)
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
		// Tenant files linking out of the repo, to an absolute path, to
		// another folder of the repo (followed), to themselves.
		"tenants/a/escape.cue": "../../../outside.cue",
		"tenants/b/out.cue":    "../../a/../../outside.cue",
		"tenants/c/abs.cue":    "/etc/hostname",
		"tenants/d/more.cue":   "../shared/x.cue.in",
		"tenants/e/loop.cue":   "loop.cue",
	} {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFolderAgreesWithTree: a folder and the Git tree of the same files
// answer every read the same way, errors included, and the loader says the
// same of a repo in them.
func TestFolderAgreesWithTree(t *testing.T) {
	up, _ := upstream(t)
	oddTree(t, up.WriteFile, up.Work)
	if err := os.WriteFile(filepath.Join(filepath.Dir(up.Work), "outside.cue"), []byte("package k3sync\n\nkubernetes: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := up.Commit("Odd tree")
	tree := polledFS(t, up, h)
	folder, err := Folder(up.Work)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = folder.Close() })

	describe := func(fsys fs.FS, name string) []string {
		var out []string
		b, err := readAll(fsys, name)()
		out = append(out, fmt.Sprintf("read %q %v", b, err))
		info, err := fs.Stat(fsys, name)
		if err == nil && info.IsDir() {
			// Folder sizes are the system's own.
			out = append(out, fmt.Sprintf("stat %v", info.Mode()))
		} else if err == nil {
			out = append(out, fmt.Sprintf("stat %v %d", info.Mode(), info.Size()))
		} else {
			out = append(out, fmt.Sprintf("stat %v", err))
		}
		if info, err := fs.Lstat(fsys, name); err == nil {
			out = append(out, fmt.Sprintf("lstat %v", info.Mode().Type()))
		} else {
			out = append(out, fmt.Sprintf("lstat %v", err))
		}
		target, err := fs.ReadLink(fsys, name)
		out = append(out, fmt.Sprintf("readlink %q %v", target, err))
		entries, err := fs.ReadDir(fsys, name)
		var names []string
		for _, e := range entries {
			if e.Name() != ".git" {
				names = append(names, fs.FormatDirEntry(e))
			}
		}
		return append(out, fmt.Sprintf("readdir %v %v", names, err))
	}
	for _, name := range []string{
		".", "a", "a.b", "a/c.txt", "a/up", "link-file", "link-dir", "link-dir/still/file.cue",
		"deep/link-chain/file.cue", "escape", "absolute", "loop", "dangling", "a/missing", "a.b/x",
		"../a.b", "/a.b", "tenants/a/escape.cue", "tenants/b/out.cue", "tenants/c/abs.cue",
		"tenants/d/more.cue", "tenants/e/loop.cue", "escape/x",
	} {
		if diff := cmp.Diff(describe(tree, name), describe(folder, name)); diff != "" {
			t.Errorf("%s (-tree +folder):\n%s", name, diff)
		}
	}

	// The loader says the same of the repo in both.
	_, treeErr := loader.Load(tree)
	_, folderErr := loader.Load(folder)
	// A tenant's files may link only to files beside them: tenants/d's
	// link stays in the repo but leaves the tenant's folder.
	const leaves = ` leaves the tenant's folder: a tenant's files may link only to files beside them in its own folder`
	want := `tenants/a/escape.cue:1:1: link to "../../../outside.cue"` + leaves + `
tenants/b/out.cue:1:1: link to "../../a/../../outside.cue"` + leaves + `
tenants/c/abs.cue:1:1: link to "/etc/hostname"` + leaves + `
tenants/d/more.cue:1:1: link to "../shared/x.cue.in"` + leaves + `
tenants/e/loop.cue:1:1: more than 40 links in a row`
	if folderErr == nil || folderErr.Error() != want {
		t.Errorf("folder: got\n%v\nwant\n%s", folderErr, want)
	}
	if treeErr == nil || treeErr.Error() != want {
		t.Errorf("tree: got\n%v\nwant\n%s", treeErr, want)
	}
}

// TestFolderFS: the folder passes io/fs's own checks.
func TestFolderFS(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/c.txt", "c\n")
	write("deep/er/still/file.cue", "package k3sync\n")
	if err := os.Symlink("../deep/er/still/file.cue", filepath.Join(dir, "a/link.cue")); err != nil {
		t.Fatal(err)
	}
	folder, err := Folder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = folder.Close() }()
	if err := fstest.TestFS(folder, "a/c.txt", "a/link.cue", "deep/er/still/file.cue"); err != nil {
		t.Error(err)
	}
}
