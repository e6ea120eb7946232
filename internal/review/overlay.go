package review

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// overlay is the tree a merge of the pull request would give, file by
// file: the files the pull request changes as its head has them (a file
// it deleted is absent), every other file as the tracked branch has it.
// A file both sides changed takes the pull request's version. It is safe
// for concurrent use when base and head are.
type overlay struct {
	base, head fs.FS
	// changed are the files the pull request changes; dirs are the
	// folders that hold them, "." included.
	changed, dirs map[string]bool
}

func newOverlay(base, head fs.FS, changed []string) *overlay {
	o := &overlay{base: base, head: head, changed: map[string]bool{}, dirs: map[string]bool{".": true}}
	for _, f := range changed {
		o.changed[f] = true
		for d := path.Dir(f); d != "." && !o.dirs[d]; d = path.Dir(d) {
			o.dirs[d] = true
		}
	}
	return o
}

// ReadFile reads name from the side that has it.
func (o *overlay) ReadFile(name string) ([]byte, error) {
	if o.changed[name] {
		return fs.ReadFile(o.head, name) //nolint:wrapcheck // a PathError
	}
	return fs.ReadFile(o.base, name) //nolint:wrapcheck // a PathError
}

// ReadDir merges the folder's entries from both sides, sorted by name.
func (o *overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	byName := map[string]fs.DirEntry{}
	be, berr := fs.ReadDir(o.base, name)
	for _, e := range be {
		if e.IsDir() || !o.changed[path.Join(name, e.Name())] {
			byName[e.Name()] = e
		}
	}
	herr := fs.ErrNotExist
	if o.dirs[name] {
		var he []fs.DirEntry
		he, herr = fs.ReadDir(o.head, name)
		for _, e := range he {
			p := path.Join(name, e.Name())
			if e.IsDir() && o.dirs[p] || !e.IsDir() && o.changed[p] {
				byName[e.Name()] = e
			}
		}
	}
	if berr != nil && herr != nil {
		return nil, berr //nolint:wrapcheck // a PathError
	}
	out := make([]fs.DirEntry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// Stat describes name from the side that has it, without reading a file
// (a Git tree reads a whole blob to open it: the loader's size limits stat
// first).
func (o *overlay) Stat(name string) (fs.FileInfo, error) {
	switch {
	case o.changed[name]:
		return fs.Stat(o.head, name) //nolint:wrapcheck // a PathError
	case o.dirs[name]:
		f, err := o.Open(name)
		if err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }()
		return f.Stat() //nolint:wrapcheck // a PathError
	}
	return fs.Stat(o.base, name) //nolint:wrapcheck // a PathError
}

// Open opens a file from the side that has it, or a folder whose entries
// are merged.
func (o *overlay) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if o.changed[name] {
		return o.head.Open(name) //nolint:wrapcheck // a PathError
	}
	info, err := fs.Stat(o.base, name)
	switch {
	case err == nil && !info.IsDir():
		return o.base.Open(name) //nolint:wrapcheck // a PathError
	case err != nil && !o.dirs[name]:
		return nil, err //nolint:wrapcheck // a PathError
	}
	entries, err := o.ReadDir(name)
	if err != nil {
		return nil, err
	}
	return &overlayDir{name: name, entries: entries}, nil
}

// overlayDir is an open merged folder.
type overlayDir struct {
	name    string
	entries []fs.DirEntry
	off     int
}

func (d *overlayDir) Stat() (fs.FileInfo, error) { return dirInfo(path.Base(d.name)), nil }
func (d *overlayDir) Close() error               { return nil }

func (d *overlayDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}

func (d *overlayDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}

// dirInfo describes a merged folder.
type dirInfo string

func (i dirInfo) Name() string     { return string(i) }
func (dirInfo) Size() int64        { return 0 }
func (dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (dirInfo) ModTime() time.Time { return time.Time{} }
func (dirInfo) IsDir() bool        { return true }
func (dirInfo) Sys() any           { return nil }
