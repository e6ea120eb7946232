package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// linkTarget is where a symbolic link at link (a path in the repo) whose
// content is target leads, as a path in the repo. The Git tree (FS) and a
// repo folder (Folder) both follow links by this rule: a relative target
// that stays inside the repo is followed, anywhere in it; an absolute one,
// or one that climbs out, is errLinkEscapes.
func linkTarget(link, target string) (string, error) {
	if path.IsAbs(target) || strings.HasPrefix(target, `\`) {
		return "", errLinkEscapes
	}
	full := path.Join(path.Dir(link), target)
	if full == ".." || strings.HasPrefix(full, "../") {
		return "", errLinkEscapes
	}
	return full, nil
}

// Folder returns the repo folder dir as a read-only fs.FS that follows
// symbolic links as the Git tree of a commit does (FS): a link is followed
// when it stays inside dir (linkTarget), at most 40 links per path;
// anything else is an error naming the path. ReadLink and Lstat show links.
// Files are opened through an os.Root, so a link swapped in between the
// check and the open cannot lead out either. Close releases the folder.
func Folder(dir string) (*FolderFS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("repo folder: %w", err)
	}
	return &FolderFS{root: root, fsys: root.FS()}, nil
}

// FolderFS is a repo folder; see Folder.
type FolderFS struct {
	root *os.Root
	fsys fs.FS
}

// Close releases the folder.
func (f *FolderFS) Close() error {
	return f.root.Close() //nolint:wrapcheck // names the folder
}

// find resolves name, following symbolic links in its folders, and in its
// last element too when follow is set, to a path without links.
func (f *FolderFS) find(name string, follow bool, links *int) (string, error) {
	if name == "." {
		return ".", nil
	}
	cur := "."
	parts := strings.Split(name, "/")
	for i, part := range parts {
		p := path.Join(cur, part)
		info, err := f.root.Lstat(p)
		if err != nil {
			return "", plainError(err)
		}
		if info.Mode()&fs.ModeSymlink != 0 && (follow || i < len(parts)-1) {
			if *links++; *links > maxLinks {
				return "", errLinkLoop
			}
			target, err := f.root.Readlink(p)
			if err != nil {
				return "", plainError(err)
			}
			full, err := linkTarget(p, target)
			if err != nil {
				return "", err
			}
			if p, err = f.find(full, true, links); err != nil {
				return "", err
			}
		}
		cur = p
	}
	return cur, nil
}

// resolve is find for the operation op on name, with the error a
// *fs.PathError naming name.
func (f *FolderFS) resolve(op, name string, follow bool) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	p, err := f.find(name, follow, new(int))
	if err != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	return p, nil
}

// plainError is the cause of an os error, as the Git tree reports it.
func plainError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fs.ErrNotExist
	case errors.Is(err, fs.ErrPermission):
		return fs.ErrPermission
	case errors.Is(err, syscall.ENOTDIR):
		return errNotDir
	case errors.Is(err, syscall.EISDIR):
		return errIsDir
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Open opens the file or folder name. Folders implement fs.ReadDirFile, so
// a large one can be listed in batches.
func (f *FolderFS) Open(name string) (fs.File, error) {
	p, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	file, err := f.root.Open(p)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: plainError(err)}
	}
	return &folderFile{File: file, name: path.Base(name)}, nil
}

// folderFile is an open file or folder of a FolderFS: an *os.File (which
// lists a folder in batches) named as it was opened, through a link or not.
type folderFile struct {
	*os.File
	name string
}

func (f *folderFile) Stat() (fs.FileInfo, error) {
	info, err := f.File.Stat()
	if err != nil {
		return nil, err //nolint:wrapcheck // a PathError
	}
	return namedInfo{FileInfo: info, name: f.name}, nil
}

// Read reads the file; its errors name the file as the tree's do.
func (f *folderFile) Read(b []byte) (int, error) {
	n, err := f.File.Read(b)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = &fs.PathError{Op: "read", Path: f.name, Err: plainError(err)}
	}
	return n, err //nolint:wrapcheck // io.EOF as is, as readers expect
}

// namedInfo is a FileInfo under the name it was asked for.
type namedInfo struct {
	fs.FileInfo
	name string
}

func (i namedInfo) Name() string { return i.name }

// ReadFile returns the content of the file name.
func (f *FolderFS) ReadFile(name string) ([]byte, error) {
	p, err := f.resolve("readfile", name, true)
	if err != nil {
		return nil, err
	}
	b, err := fs.ReadFile(f.fsys, p)
	if err != nil {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: plainError(err)}
	}
	return b, nil
}

// ReadDir lists the folder name, sorted by name; links are not followed.
func (f *FolderFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(f.fsys, p)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: plainError(err)}
	}
	return entries, nil
}

// Stat describes name, following a symbolic link.
func (f *FolderFS) Stat(name string) (fs.FileInfo, error) {
	return f.stat("stat", name, true)
}

// Lstat describes name without following a symbolic link.
func (f *FolderFS) Lstat(name string) (fs.FileInfo, error) {
	return f.stat("lstat", name, false)
}

func (f *FolderFS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	p, err := f.resolve(op, name, follow)
	if err != nil {
		return nil, err
	}
	info, err := f.root.Lstat(p)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: plainError(err)}
	}
	return namedInfo{FileInfo: info, name: path.Base(name)}, nil
}

// ReadLink returns the target of the symbolic link name.
func (f *FolderFS) ReadLink(name string) (string, error) {
	p, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	info, err := f.root.Lstat(p)
	if err == nil && info.Mode()&fs.ModeSymlink == 0 {
		err = errNotALink
	}
	var target string
	if err == nil {
		target, err = f.root.Readlink(p)
	}
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: plainError(err)}
	}
	return target, nil
}

var (
	_ fs.ReadDirFS   = (*FolderFS)(nil)
	_ fs.ReadFileFS  = (*FolderFS)(nil)
	_ fs.StatFS      = (*FolderFS)(nil)
	_ fs.ReadLinkFS  = (*FolderFS)(nil)
	_ fs.ReadDirFile = (*folderFile)(nil)
)
