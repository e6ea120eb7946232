package source

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// DefaultMaxObjectBytes bounds one object of a fetched pack, inflated: a
// file, a folder listing, a commit, or what a delta rebuilds.
const DefaultMaxObjectBytes = 32 << 20

// ErrObjectTooLarge: a fetch brought an object over the limit
// (Config.MaxObjectBytes); nothing of it was kept. The error is an
// *ObjectTooLargeError.
var ErrObjectTooLarge = errors.New("object too large")

// ObjectTooLargeError is a fetch refused for one object's size.
type ObjectTooLargeError struct {
	Size, Limit int64
}

func (e *ObjectTooLargeError) Error() string {
	return fmt.Sprintf("%s: the pack holds an object (a file, or what a delta rebuilds) of %d bytes, over the %d-byte limit "+
		"(git.maxObjectBytes): nothing of this fetch is kept; remove the file from the ref's history", ErrObjectTooLarge, e.Size, e.Limit)
}

// Is makes errors.Is(err, ErrObjectTooLarge) hold.
func (e *ObjectTooLargeError) Is(target error) bool { return target == ErrObjectTooLarge }

// guardedStorage is the clone's storage as a fetch writes to it: each
// pack it receives is checked as it arrives (checkPack), before
// go-git's indexer reads it.
//
// go-git's indexer holds each object of a pack whole in memory once the
// pack is in, whatever its size: a 100 MB file, or a few kilobytes that
// inflate to gigabytes, in a branch or a pull request anyone may open,
// would take the daemon's memory before any limit of the loader is
// checked. The guard refuses the pack before its last byte reaches the
// indexer, which resolves objects only once every byte is in.
type guardedStorage struct {
	*filesystem.Storage
	maxObject int64
}

// PackfileWriter implements storer.PackfileWriter.
func (s guardedStorage) PackfileWriter() (io.WriteCloser, error) {
	w, err := s.Storage.PackfileWriter()
	if err != nil {
		return nil, err //nolint:wrapcheck // go-git's, wrapped by the fetch
	}
	return newPackGuard(w, s.maxObject, s.Filesystem().Root()), nil
}

// packGuard hands each chunk of a pack to checkPack, and to the pack
// writer only once checkPack has read every byte of it and asked for
// more (or found the pack whole and sound).
type packGuard struct {
	w      io.WriteCloser
	dir    string
	chunks chan []byte
	// asks: checkPack used up every byte handed to it. Buffered: it
	// never waits to ask.
	asks    chan struct{}
	done    chan struct{}
	err     error // checkPack's answer, set before done closes
	pending bool  // an ask not answered yet
}

func newPackGuard(w io.WriteCloser, maxObject int64, dir string) *packGuard {
	g := &packGuard{w: w, dir: dir, chunks: make(chan []byte), asks: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		r := &guardReader{g: g}
		err := checkPack(r, maxObject)
		if err == nil {
			// Bytes after the pack's checksum are go-git's to judge.
			_, _ = io.Copy(io.Discard, r)
		}
		g.err = err
		close(g.done)
	}()
	return g
}

// wait waits until checkPack asks for more bytes (true) or has finished.
func (g *packGuard) wait() bool {
	if g.pending {
		return true
	}
	select {
	case <-g.asks:
		g.pending = true
		return true
	case <-g.done:
		return false
	}
}

func (g *packGuard) Write(p []byte) (int, error) {
	if g.wait() {
		g.pending = false
		select {
		case g.chunks <- p:
			g.wait()
		case <-g.done:
		}
	}
	select {
	case <-g.done:
		if g.err != nil {
			return 0, g.err
		}
	default:
	}
	return g.w.Write(p) //nolint:wrapcheck // go-git's, wrapped by the fetch
}

// Close ends the pack. A refused pack is closed without its last bytes,
// and the half-written pack go-git leaves behind is removed.
func (g *packGuard) Close() error {
	close(g.chunks)
	<-g.done
	if g.err != nil {
		_ = g.w.Close()
		_, _ = removeTempPacks(g.dir)
		return g.err
	}
	return g.w.Close() //nolint:wrapcheck // go-git's, wrapped by the fetch
}

// guardReader is checkPack's side of packGuard. It asks only while the
// pack goes on: one ask at most is ever waiting.
type guardReader struct {
	g   *packGuard
	cur []byte
	eof bool
}

func (r *guardReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		r.g.asks <- struct{}{}
		c, ok := <-r.g.chunks
		if !ok {
			r.eof = true
			return 0, io.EOF
		}
		r.cur = c
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// checkPack reads a pack through and fails on the first object whose
// declared size, or for a delta the declared size of what it rebuilds,
// is over maxObject. go-git fails an object that inflates past its
// declared size, and a delta that rebuilds more than it declares.
func checkPack(r io.Reader, maxObject int64) error {
	s := packfile.NewScanner(r)
	_, objects, err := s.Header()
	if err != nil {
		return err //nolint:wrapcheck // go-git's, wrapped by the fetch
	}
	for range objects {
		oh, err := s.NextObjectHeader()
		if err != nil {
			return err //nolint:wrapcheck // go-git's, wrapped by the fetch
		}
		// The object's own size first: a delta's data, too, is held whole.
		size := oh.Length
		if size <= maxObject {
			switch oh.Type {
			case plumbing.OFSDeltaObject, plumbing.REFDeltaObject:
				var d deltaSizes
				if _, _, err := s.NextObject(&d); err != nil {
					return err //nolint:wrapcheck // go-git's, wrapped by the fetch
				}
				if size = d.target(); size < 0 {
					return fmt.Errorf("%w: the delta at offset %d has no valid sizes", packfile.ErrInvalidDelta, oh.Offset)
				}
			default:
				if _, _, err := s.NextObject(io.Discard); err != nil {
					return err //nolint:wrapcheck // go-git's, wrapped by the fetch
				}
			}
		}
		if size > maxObject {
			return &ObjectTooLargeError{Size: size, Limit: maxObject}
		}
	}
	_, err = s.Checksum()
	return err //nolint:wrapcheck // go-git's, wrapped by the fetch
}

// deltaSizes keeps the first bytes of a delta, which declare the size of
// its base and of what it rebuilds, and drops the rest.
type deltaSizes struct {
	head [2 * 10]byte
	n    int
}

func (d *deltaSizes) Write(p []byte) (int, error) {
	d.n += copy(d.head[d.n:], p)
	return len(p), nil
}

// target decodes the second size (-1 when the head holds no two sizes):
// little-endian groups of 7 bits, the high bit set on all but the last.
func (d *deltaSizes) target() int64 {
	b := d.head[:d.n]
	var size int64
	for range 2 {
		size = 0
		for shift := uint(0); ; shift += 7 {
			if len(b) == 0 || shift > 56 {
				return -1
			}
			c := b[0]
			b = b[1:]
			size |= int64(c&0x7f) << shift
			if c&0x80 == 0 {
				break
			}
		}
	}
	return size
}

// removeTempPacks removes the packs a fetch or compaction left half
// written in the clone at dir, and returns their paths.
func removeTempPacks(dir string) ([]string, error) {
	tmp, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "tmp_*"))
	if err != nil {
		return nil, fmt.Errorf("list temporary packs: %w", err)
	}
	for i, p := range tmp {
		if err := os.Remove(p); err != nil {
			return tmp[:i], fmt.Errorf("remove temporary pack: %w", err)
		}
	}
	return tmp, nil
}
