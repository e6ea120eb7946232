package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// maxLinks bounds the symlinks followed to resolve one path, as Linux does.
const maxLinks = 40

// maxLinkBytes bounds a symbolic link's target, as Linux's PATH_MAX does:
// a link's target is a blob, read whole.
const maxLinkBytes = 4096

var (
	errNotDir       = errors.New("not a directory")
	errIsDir        = errors.New("is a directory")
	errLinkLoop     = errors.New("too many levels of symbolic links")
	errLinkEscapes  = errors.New("symbolic link points outside the repository")
	errLinkTooLong  = fmt.Errorf("symbolic link target longer than %d bytes", maxLinkBytes)
	errNotALink     = errors.New("not a symbolic link")
	errWrongHashLen = errors.New("want a full hex commit hash")
)

// FS returns the tree of commit hash as a read-only file system. It is
// safe for concurrent use and stays valid while the poller fetches.
//
// Entries have the commit's committer time as modification time. Symbolic
// links are followed by Open, ReadFile, ReadDir and Stat when they stay
// inside the tree; ReadLink and Lstat show them. Submodules are empty
// folders.
func (p *Poller) FS(hash string) (fs.FS, error) {
	p.readMu.Lock()
	defer p.readMu.Unlock()
	c, err := p.commitLocked(hash)
	if err != nil {
		return nil, err
	}
	tree, err := c.Tree()
	if err != nil {
		p.noteRead(err)
		return nil, fmt.Errorf("git source: commit %s: tree: %w", hash, err)
	}
	objects := p.objects
	return &treeFS{
		mu: &p.readMu,
		s:  objects,
		// A tree opened before a re-clone reads the old clone's packs:
		// its failures say nothing of the new one. (Reads hold readMu.)
		note: func(err error) {
			if p.objects == objects {
				p.noteRead(err)
			}
		},
		root:    node{name: ".", path: ".", mode: filemode.Dir, hash: tree.Hash},
		modTime: c.Committer.When,
		dirs:    map[plumbing.Hash]*treeDir{tree.Hash: newTreeDir(tree)},
	}, nil
}

// commitLocked reads a commit of the clone. Callers hold readMu.
func (p *Poller) commitLocked(hash string) (*object.Commit, error) {
	if len(hash) != 40 || !plumbing.IsHash(hash) {
		return nil, fmt.Errorf("git source: commit %q: %w", hash, errWrongHashLen)
	}
	c, err := object.GetCommit(p.objects, plumbing.NewHash(hash))
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("git source: commit %s: %w", hash, ErrUnknownRevision)
	}
	if err != nil {
		p.noteRead(err)
		return nil, fmt.Errorf("git source: commit %s: %w", hash, err)
	}
	return c, nil
}

// treeFS is a Git tree as an fs.FS. The storage is shared with the poller
// and not safe for concurrent use: every read holds mu, and what is read
// is copied out before it is released.
type treeFS struct {
	mu *sync.Mutex
	s  *filesystem.Storage
	// note is told of every failed object read (Poller.noteRead).
	note    func(error)
	root    node
	modTime time.Time
	// dirs caches decoded trees by hash; guarded by mu.
	dirs map[plumbing.Hash]*treeDir
}

// node is a tree entry found by path.
type node struct {
	// name is the entry's name, or the link's name for a followed link.
	name string
	// path is where the entry is in the tree (after following links).
	path string
	mode filemode.FileMode
	hash plumbing.Hash
}

func (n node) isDir() bool { return n.mode == filemode.Dir || n.mode == filemode.Submodule }

// treeDir is a decoded tree with its entries by name and in fs order.
type treeDir struct {
	byName map[string]object.TreeEntry
	// names are sorted by name, as io/fs wants; Git sorts folders as if
	// their names ended in "/".
	names []string
}

func newTreeDir(t *object.Tree) *treeDir {
	d := &treeDir{byName: make(map[string]object.TreeEntry, len(t.Entries))}
	for _, e := range t.Entries {
		d.byName[e.Name] = e
		d.names = append(d.names, e.Name)
	}
	slices.Sort(d.names)
	return d
}

// dir returns the folder n. Callers hold mu.
func (f *treeFS) dir(n node) (*treeDir, error) {
	switch n.mode {
	case filemode.Submodule:
		// The submodule's commit is in another repository.
		return &treeDir{}, nil
	case filemode.Dir:
	default:
		return nil, errNotDir
	}
	if d, ok := f.dirs[n.hash]; ok {
		return d, nil
	}
	t, err := object.GetTree(f.s, n.hash)
	if err != nil {
		f.note(err)
		return nil, fmt.Errorf("read tree %s: %w", n.hash, err)
	}
	d := newTreeDir(t)
	f.dirs[n.hash] = d
	return d, nil
}

// blob reads the content of a blob. Callers hold mu.
func (f *treeFS) blob(h plumbing.Hash) ([]byte, error) {
	b, err := object.GetBlob(f.s, h)
	if err != nil {
		f.note(err)
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	r, err := b.Reader()
	if err != nil {
		f.note(err)
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	data, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		f.note(err)
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return data, nil
}

// link reads the target of a symbolic link, at most maxLinkBytes.
// Callers hold mu.
func (f *treeFS) link(h plumbing.Hash) ([]byte, error) {
	size, err := f.s.EncodedObjectSize(h)
	if err != nil {
		f.note(err)
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	if size > maxLinkBytes {
		return nil, errLinkTooLong
	}
	return f.blob(h)
}

// find resolves name, a valid path, following symbolic links in its
// folders, and in its last element too when follow is set. Callers hold
// mu.
func (f *treeFS) find(name string, follow bool, links *int) (node, error) {
	cur := f.root
	if name == "." {
		return cur, nil
	}
	parts := strings.Split(name, "/")
	for i, part := range parts {
		d, err := f.dir(cur)
		if err != nil {
			return node{}, err
		}
		e, ok := d.byName[part]
		if !ok {
			return node{}, fs.ErrNotExist
		}
		n := node{name: part, path: path.Join(cur.path, part), mode: e.Mode, hash: e.Hash}
		if n.mode == filemode.Symlink && (follow || i < len(parts)-1) {
			if n, err = f.follow(n, links); err != nil {
				return node{}, err
			}
		}
		cur = n
	}
	return cur, nil
}

// follow resolves the symbolic link n. Callers hold mu.
func (f *treeFS) follow(n node, links *int) (node, error) {
	if *links++; *links > maxLinks {
		return node{}, errLinkLoop
	}
	target, err := f.link(n.hash)
	if err != nil {
		return node{}, err
	}
	full, err := linkTarget(n.path, string(target))
	if err != nil {
		return node{}, err
	}
	to, err := f.find(full, true, links)
	if err != nil {
		return node{}, err
	}
	to.name = n.name
	return to, nil
}

// info describes n. Callers hold mu.
func (f *treeFS) info(n node) (*fileInfo, error) {
	fi := &fileInfo{name: n.name, mode: fileMode(n.mode), modTime: f.modTime}
	if !n.isDir() {
		size, err := f.s.EncodedObjectSize(n.hash)
		if err != nil {
			f.note(err)
			return nil, fmt.Errorf("read blob %s: %w", n.hash, err)
		}
		fi.size = size
	}
	return fi, nil
}

// entries lists the folder n in name order. Callers hold mu.
func (f *treeFS) entries(n node) ([]fs.DirEntry, error) {
	d, err := f.dir(n)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, len(d.names))
	for i, name := range d.names {
		e := d.byName[name]
		out[i] = &dirEntry{fs: f, n: node{name: name, path: path.Join(n.path, name), mode: e.Mode, hash: e.Hash}}
	}
	return out, nil
}

func fileMode(m filemode.FileMode) fs.FileMode {
	switch m {
	case filemode.Dir, filemode.Submodule:
		return fs.ModeDir | 0o755
	case filemode.Executable:
		return 0o755
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	default:
		return 0o644
	}
}

// Open opens the file or folder name.
func (f *treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	file, err := f.open(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return file, nil
}

func (f *treeFS) open(name string) (fs.File, error) {
	n, err := f.find(name, true, new(int))
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		entries, err := f.entries(n)
		if err != nil {
			return nil, err
		}
		info, err := f.info(n)
		if err != nil {
			return nil, err
		}
		return &openDir{info: info, entries: entries}, nil
	}
	data, err := f.blob(n.hash)
	if err != nil {
		return nil, err
	}
	info := &fileInfo{name: n.name, size: int64(len(data)), mode: fileMode(n.mode), modTime: f.modTime}
	return &openFile{info: info, r: bytes.NewReader(data)}, nil
}

// ReadFile returns the content of the file name.
func (f *treeFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: fs.ErrInvalid}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.find(name, true, new(int))
	if err == nil && n.isDir() {
		err = errIsDir
	}
	var data []byte
	if err == nil {
		data, err = f.blob(n.hash)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: err}
	}
	return data, nil
}

// ReadDir lists the folder name, sorted by name.
func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.find(name, true, new(int))
	var entries []fs.DirEntry
	if err == nil {
		entries, err = f.entries(n)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return entries, nil
}

// Stat describes name, following a symbolic link.
func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	return f.stat("stat", name, true)
}

// Lstat describes name without following a symbolic link.
func (f *treeFS) Lstat(name string) (fs.FileInfo, error) {
	return f.stat("lstat", name, false)
}

func (f *treeFS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.find(name, follow, new(int))
	var info *fileInfo
	if err == nil {
		info, err = f.info(n)
	}
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return info, nil
}

// ReadLink returns the target of the symbolic link name.
func (f *treeFS) ReadLink(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.find(name, false, new(int))
	if err == nil && n.mode != filemode.Symlink {
		err = errNotALink
	}
	var target []byte
	if err == nil {
		target, err = f.link(n.hash)
	}
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(target), nil
}

var (
	_ fs.ReadDirFS   = (*treeFS)(nil)
	_ fs.ReadFileFS  = (*treeFS)(nil)
	_ fs.StatFS      = (*treeFS)(nil)
	_ fs.ReadLinkFS  = (*treeFS)(nil)
	_ fs.ReadDirFile = (*openDir)(nil)
	_ io.ReaderAt    = (*openFile)(nil)
	_ io.Seeker      = (*openFile)(nil)
)
